"""What the README promises about the ``loom`` command and the blocking ``run``,
held through the real command (``loom.cli.main``): bad options and an
unreachable store give one clear message, never a traceback; the exit codes;
``error.node`` in ``--json``; ``runs delete --json``; ``--fake-llm`` kept for
``loom resume``; ``Runtime.run(..., listeners=[...])``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import loom
from loom.runtime.events import RuntimeEvent
from loom.spec import (
    DataFlowEdge,
    Flow,
    InputMessageNode,
    LlmNode,
)
from loom.spec.llms import OpenAiCompatibleConfig

from .flows import chain, double_flow, prop, run

TOOLS = "def double(x):\n    return x * 2\n"








def ask_then_write_flow() -> Flow:
    """Waits for a name, then asks an LLM whose configured URL answers nothing."""
    dead = OpenAiCompatibleConfig(name="dead", url="http://127.0.0.1:9/v1", model_id="m")
    ask = InputMessageNode(name="ask", message="Name?", outputs=[prop("name")])
    write = LlmNode(name="write", llm_config=dead, prompt_template="Greet {{name}}")
    flow = chain("asker", ask, write, outputs=(prop("generated_text"),))
    end = flow.nodes[-1]
    return Flow(name=flow.name, start_node=flow.start_node, nodes=flow.nodes,
                control_flow_connections=flow.control_flow_connections,
                data_flow_connections=[
                    DataFlowEdge(name="d0", source_node=ask, source_output="name",
                                 destination_node=write, destination_input="name"),
                    DataFlowEdge(name="d1", source_node=write, source_output="generated_text",
                                 destination_node=end, destination_input="generated_text"),
                ])


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "tools.py").write_text(TOOLS)
    (tmp_path / "double.json").write_text(loom.dumps(double_flow()))
    (tmp_path / "asker.json").write_text(loom.dumps(ask_then_write_flow()))
    (tmp_path / "a_file").write_text("not a directory")
    monkeypatch.setenv("LOOM_STORE", f"sqlite:///{tmp_path}/runs.sqlite3")
    for name in ("LOOM_LLM_URL", "LOOM_LLM_MODEL", "LOOM_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path




def run_double(place: Path, capsys: pytest.CaptureFixture[str], *argv: str
               ) -> tuple[int, str, str]:
    return run(capsys, "run", str(place / "double.json"), "--tools", str(place / "tools.py"),
               *argv)


@pytest.mark.parametrize("argv, message", [
    (["--max-concurrency", "0"], "--max-concurrency: must be at least 1, not 0"),
    (["--max-concurrency", "-3"], "--max-concurrency: must be at least 1, not -3"),
    (["--max-concurrency", "many"], "--max-concurrency: 'many' is not a whole number"),
    (["--branch-timeout", "-1"], "--branch-timeout: must be a number of seconds above 0"),
    (["--branch-timeout", "nan"], "--branch-timeout: must be a number of seconds above 0"),
    (["--branch-timeout", "soon"], "--branch-timeout: 'soon' is not a number of seconds"),
])
def test_bad_bounds_exit_2_with_one_message(
    place: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run_double(place, capsys, "-i", "x=1", *argv)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_max_iterations_of_chat_must_be_positive(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "chat", str(place / "double.json"), "--max-iterations", "0")
    assert code == 2 and "--max-iterations: must be at least 1, not 0" in err


def test_an_unreachable_store_is_one_message(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{place}/a_file/runs.sqlite3"  # its directory is a file
    code, out, err = run(capsys, "runs", "list", "--store", store)
    assert code == 1 and out == ""
    assert err.startswith("error: cannot open the SQLite store") and "Traceback" not in err
    # A run checkpointed after every node opens its store before it starts.
    code, out, err = run_double(place, capsys, "-i", "x=1", "--checkpoint", "nodes",
                                "--store", store, "--json")
    assert code == 2 and "Traceback" not in err
    data = json.loads(out)
    assert data["status"] == "failed" and data["error"]["node"] is None
    assert data["error"]["message"].startswith("cannot open the SQLite store")


def test_a_missing_required_input_exits_2_before_the_run(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_double(place, capsys)
    assert code == 2 and out == ""
    assert err == ("error: flow 'doubler' needs input(s) 'x', which were not given. "
                   "give them with -i x=...\n")
    code, out, _ = run_double(place, capsys, "--json")
    assert code == 2
    assert json.loads(out)["error"] == {
        "node": None,
        "message": "flow 'doubler' needs input(s) 'x', which were not given. "
                   "give them with -i x=...",
    }


def test_error_node_is_null_for_errors_outside_the_run(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A missing tool (found before the run starts) and a bad -i value: both null.
    code, out, _ = run(capsys, "run", str(place / "double.json"), "-i", "x=1", "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["node"] is None and "ServerTool 'double'" in error["message"]
    code, out, _ = run_double(place, capsys, "-i", "x=one", "--json")
    assert code == 2 and json.loads(out)["error"]["node"] is None


def test_runs_delete_json(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", str(place / "asker.json"), "--run-id", "w1", "--json")
    assert code == 3, out
    code, out, err = run(capsys, "runs", "delete", "w1", "nope", "--json")
    assert code == 1 and err == ""
    assert json.loads(out) == {"deleted": ["w1"], "missing": ["nope"]}
    code, out, _ = run(capsys, "runs", "list", "--json")
    assert json.loads(out) == []


def test_resume_of_a_fake_llm_run_uses_a_test_server_again(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "run", str(place / "asker.json"), "--fake-llm",
                       "--run-id", "f1", "--json")
    assert code == 3, out
    code, out, err = run(capsys, "resume", "f1", "--answer", "Ada", "--json")
    data = json.loads(out)
    assert (code, data["status"]) == (0, "finished"), err
    assert data["outputs"]["generated_text"]  # the test server's canned answer


def test_the_blocking_run_takes_listeners_as_arun_does() -> None:
    seen: list[RuntimeEvent] = []
    with loom.Runtime(tools={"double": lambda x: x * 2}) as runtime:
        result = runtime.run(double_flow(), {"x": 2}, listeners=[seen.append])
        again = runtime.run(double_flow(), {"x": 3})
    assert result.outputs == {"y": 4} and again.outputs == {"y": 6}
    types = [event.type for event in seen]
    assert types[0] == "flow_start" and types[-1] == "flow_end"
    assert "tool_start" in types
    assert len([t for t in types if t == "flow_end"]) == 1  # per call: not the second run
