"""What goes wrong with MCP servers, against the test server built with the SDK: each
error names the node, the tool and the server."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from mcp_support import log_lines, own_stdio, tool_flow

from loom.spec import MCPTool, StdioTransport
from runtime.conftest import prop, props, runtime


def own_tool(log: Path, name: str, inputs: list | None = None, outputs: list | None = None,
             **transport: object) -> MCPTool:
    return MCPTool(name=name, client_transport=own_stdio(log, **transport),
                   inputs=inputs or [], outputs=outputs if outputs is not None else
                   [prop("answer")])


def assert_names(message: str, node: str, tool: str, server: str = "own") -> None:
    assert f"ToolNode '{node}'" in message, message
    assert f"'{tool}'" in message, message
    assert f"MCP server '{server}'" in message, message


def test_a_tool_that_raises_fails_the_node(log: Path) -> None:
    tool = own_tool(log, "fail", props(reason="string"))
    result = runtime().run(tool_flow(tool, node="try_it"), {"reason": "the disk is full"})
    assert result.status == "failed"
    assert result.error.node.endswith("try_it")
    assert_names(result.error.message, "try_it", "fail")
    assert "the disk is full" in result.error.message


def test_a_server_that_exits_mid_call_fails_the_node(log: Path) -> None:
    tool = own_tool(log, "die")
    started = time.monotonic()
    result = runtime().run(tool_flow(tool, node="crash"), {})
    assert result.status == "failed"
    assert_names(result.error.message, "crash", "die")
    assert "connection was lost" in result.error.message
    assert log_lines(log, "call") == ["call die"]
    assert time.monotonic() - started < 30  # not the 60 s read timeout


def test_a_slow_tool_under_the_sessions_read_timeout_fails_in_time(log: Path) -> None:
    tool = own_tool(log, "slow", [prop("seconds", "number")],
                    session_parameters={"read_timeout_seconds": 0.5})
    started = time.monotonic()
    result = runtime().run(tool_flow(tool, node="wait_for_it"), {"seconds": 20})
    elapsed = time.monotonic() - started
    assert result.status == "failed"
    assert_names(result.error.message, "wait_for_it", "slow")
    assert "did not answer within 0.5 s" in result.error.message
    assert "raise session_parameters.read_timeout_seconds" in result.error.message
    assert elapsed < 15


def test_a_declared_tool_the_server_lacks(log: Path) -> None:
    tool = own_tool(log, "teleport")
    result = runtime().run(tool_flow(tool, node="beam"), {})
    assert result.status == "failed"
    assert_names(result.error.message, "beam", "teleport")
    assert "has no tool 'teleport'" in result.error.message
    assert "'count'" in result.error.message  # what it has
    assert log_lines(log, "call") == []


def test_a_server_that_cannot_start(tmp_path: Path) -> None:
    missing = StdioTransport(name="ghost", command=str(tmp_path / "no-such-server"))
    tool = MCPTool(name="anything", client_transport=missing, outputs=[prop("answer")])
    result = runtime().run(tool_flow(tool, node="reach"), {})
    assert result.status == "failed"
    assert_names(result.error.message, "reach", "anything", "ghost")
    assert "cannot open a session" in result.error.message
    assert "no-such-server" in result.error.message


def test_a_server_that_is_not_an_mcp_server() -> None:
    silent = StdioTransport(name="mute", command=sys.executable, args=["-c", "print('hi')"])
    tool = MCPTool(name="anything", client_transport=silent, outputs=[prop("answer")])
    result = runtime().run(tool_flow(tool, node="reach"), {})
    assert result.status == "failed"
    assert_names(result.error.message, "reach", "anything", "mute")


def test_outputs_that_do_not_fit_fail_the_node(log: Path) -> None:
    tool = own_tool(log, "add", props(a="integer", b="integer"),
                    outputs=[prop("total", "array")])
    result = runtime().run(tool_flow(tool, node="sum_up"), {"a": 2, "b": 3})
    assert result.status == "failed"
    assert "output 'total'" in result.error.message


@pytest.mark.parametrize("attempts", [2, 0])
def test_retry_policy_retries_a_failing_call_with_backoff(log: Path, attempts: int) -> None:
    tool = own_tool(log, "flaky", props(label="string"))
    tool.retry_policy = {"max_attempts": attempts, "initial_retry_delay": 0.05,
                         "max_retry_delay": 0.1}
    result = runtime().run(tool_flow(tool), {"label": "x"})
    calls = log_lines(log, "call")
    if attempts:
        assert result.status == "finished", result.error
        assert result.outputs == {"answer": "third time x"}
        assert calls == ["call flaky x"] * 3
    else:
        assert result.status == "failed"
        assert calls == ["call flaky x"]
    assert len(log_lines(log, "start")) == 1  # retries reuse the session
