"""``loom run --json`` prints exactly one JSON object, whatever the tools do.

Through the installed command in a subprocess: the tools print, exit, return
what JSON cannot hold, and the process gets SIGINT.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.spec import ControlFlowEdge, EndNode, Flow, Property, ServerTool, StartNode, ToolNode

LOOM = [str(Path(sys.executable).parent / "loom")]

TOOLS = '''
import sys, time

def chatty(x):
    print("hello from the tool")
    return {"y": x}

def a_set(x):
    return {"tags": {1, 2}}

def not_a_number(x):
    return {"y": float("nan")}

def exits(x):
    raise SystemExit(7)

def sleeps(x):
    print("started", flush=True)
    time.sleep(60)
    return {"y": x}
'''


def tool_flow(tool: str, output_type: str = "object") -> Flow:
    start = StartNode(name="start", inputs=[Property(json_schema={"title": "x", "type": "integer"})])
    node = ToolNode(name="call", tool=ServerTool(
        name=tool,
        inputs=[Property(json_schema={"title": "x", "type": "integer"})],
        outputs=[Property(json_schema={"title": "y", "type": output_type})],
    ))
    end = EndNode(name="end", outputs=[Property(json_schema={"title": "y", "type": output_type})])
    return Flow(name=f"{tool}_flow", start_node=start, nodes=[start, node, end],
                control_flow_connections=[
                    ControlFlowEdge(name="a", from_node=start, to_node=node),
                    ControlFlowEdge(name="b", from_node=node, to_node=end),
                ])


def write(tmp_path: Path, tool: str, output_type: str = "object") -> tuple[str, str]:
    config = tmp_path / f"{tool}.json"
    config.write_text(loom.dumps(tool_flow(tool, output_type)))
    tools = tmp_path / "tools.py"
    tools.write_text(TOOLS)
    return str(config), str(tools)


def loom_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOM_STORE": "memory:"}
    return subprocess.run([*LOOM, "run", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)


def one_object(stdout: str) -> dict[str, Any]:
    """stdout parsed strictly: one JSON object, no NaN, nothing before or after."""
    def refuse(token: str) -> Any:
        raise AssertionError(f"not JSON: {token}")
    value = json.loads(stdout, parse_constant=refuse)
    assert isinstance(value, dict)
    return value


def test_a_tools_print_goes_to_stderr(tmp_path: Path) -> None:
    config, tools = write(tmp_path, "chatty", "integer")
    done = loom_run(tmp_path, config, "--tools", tools, "-i", "x=4", "--json")
    assert done.returncode == 0, done.stderr
    assert one_object(done.stdout)["outputs"] == {"y": 4}
    assert "hello from the tool" in done.stderr


def test_a_set_in_a_tool_output_fails_at_that_node(tmp_path: Path) -> None:
    config, tools = write(tmp_path, "a_set")
    done = loom_run(tmp_path, config, "--tools", tools, "-i", "x=1", "--json")
    assert done.returncode == 1, (done.stdout, done.stderr)
    result = one_object(done.stdout)
    assert result["status"] == "failed"
    assert "call" in result["error"]["node"]
    assert "'y'" in result["error"]["message"] and "set" in result["error"]["message"]


def test_a_set_in_a_tool_output_fails_without_a_traceback(tmp_path: Path) -> None:
    config, tools = write(tmp_path, "a_set")
    done = loom_run(tmp_path, config, "--tools", tools, "-i", "x=1")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "finished" not in done.stdout
    assert "failed" in done.stdout and "set" in done.stdout


def test_nan_is_written_as_null(tmp_path: Path) -> None:
    config, tools = write(tmp_path, "not_a_number", "number")
    done = loom_run(tmp_path, config, "--tools", tools, "-i", "x=1", "--json")
    assert done.returncode == 0, done.stderr
    assert one_object(done.stdout)["outputs"] == {"y": None}


def test_system_exit_in_a_tool_is_a_tool_failure(tmp_path: Path) -> None:
    config, tools = write(tmp_path, "exits")
    done = loom_run(tmp_path, config, "--tools", tools, "-i", "x=1", "--json")
    assert done.returncode == 1, (done.stdout, done.stderr)
    result = one_object(done.stdout)
    assert result["status"] == "failed"
    assert "SystemExit" in result["error"]["message"]


def test_system_exit_while_importing_tools_is_a_command_error(tmp_path: Path) -> None:
    config, _ = write(tmp_path, "chatty", "integer")
    tools = tmp_path / "exiting.py"
    tools.write_text("import sys\nprint('importing')\nsys.exit(3)\n")
    done = loom_run(tmp_path, config, "--tools", str(tools), "-i", "x=1", "--json")
    assert done.returncode == 2, (done.stdout, done.stderr)
    result = one_object(done.stdout)
    assert result["status"] == "failed"
    assert "SystemExit" in result["error"]["message"]
    assert "importing" in done.stderr


def test_sigint_prints_a_cancelled_result_and_exits_130(tmp_path: Path) -> None:
    config, tools = write(tmp_path, "sleeps", "integer")
    env = {**os.environ, "LOOM_STORE": "memory:"}
    proc = subprocess.Popen([*LOOM, "run", config, "--tools", tools, "-i", "x=1", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=tmp_path)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the tool has started (its print goes to stderr)
        assert "started" in line, line
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, (stdout, stderr)
    result = one_object(stdout)
    assert result["status"] == "cancelled"
    assert result["error"]["message"]


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_infinities_are_written_as_null(value: float) -> None:
    from loom.cli.waiting import json_text

    assert json.loads(json_text({"v": value, "w": [value, 1.5]})) == {"v": None, "w": [None, 1.5]}
