"""The MCP servers of the tests, and flows around one MCP tool.

``tests/mcp`` has no ``__init__.py`` on purpose: a test package named ``mcp``
would hide the SDK of that name. Its modules therefore have unique names.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from loom.spec import MCPTool, StdioTransport, ToolNode
from loom.spec.flows.flow import Flow
from loom.spec.property import Property
from processes import stop_process
from runtime.conftest import linear_flow
from shared_folder import in_ci

ROOT = Path(__file__).resolve().parents[2]
OWN_SERVER = Path(__file__).with_name("own_server.py")
EVERYTHING = ROOT / ".cache" / "npm-tools" / "node_modules" / ".bin" / "mcp-server-everything"


def everything_command() -> str:
    """The npm server-everything that ./scripts/setup installs; skip (fail in CI) without."""
    if EVERYTHING.exists() and shutil.which("node"):
        return str(EVERYTHING)
    message = (f"{EVERYTHING} is absent: ./scripts/setup installs "
               "@modelcontextprotocol/server-everything with npm (scripts/npm-tools)")
    if in_ci():
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)


def own_stdio(log: Path, name: str = "own", **fields: Any) -> StdioTransport:
    """The test server over stdio; it logs its starts and calls to ``log``."""
    return StdioTransport(name=name, command=sys.executable,
                          args=[str(OWN_SERVER), str(log), "stdio"], **fields)


def time_stdio(name: str = "time") -> StdioTransport:
    """mcp-server-time (PyPI) over stdio, its local zone fixed."""
    return StdioTransport(name=name, command=sys.executable,
                          args=["-m", "mcp_server_time", "--local-timezone", "UTC"])


def log_lines(log: Path, prefix: str = "") -> list[str]:
    if not log.exists():
        return []
    return [line for line in log.read_text().splitlines() if line.startswith(prefix)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(command: Sequence[str], port: int, env: dict[str, str] | None = None,
            timeout: float = 30.0) -> Iterator[subprocess.Popen[bytes]]:
    """A server process listening on ``port``, stopped (and reaped) afterwards."""
    process = subprocess.Popen(list(command), env={**os.environ, **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"{command[0]} exited: {err[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not listen on {port} in {timeout} s")
            time.sleep(0.05)
        yield process
    finally:
        stop_process(process)
        if process.stderr:
            process.stderr.close()


def tool_flow(tool: MCPTool, node: str = "call_tool", name: str = "mcp_flow",
              outputs: Sequence[Property] | None = None) -> Flow:
    """StartNode(the tool's inputs) -> ToolNode -> EndNode(the tool's outputs)."""
    step = ToolNode(name=node, tool=tool)
    return linear_flow(name, step, inputs=list(tool.inputs or []),
                       outputs=list(tool.outputs if outputs is None else outputs),
                       wiring="edges")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    return True
