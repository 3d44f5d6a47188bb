"""Sessions belong to the run: one per server, closed however the run ends; calls are
journaled, so a resumed run never calls a tool twice. Counted on the server's side."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from mcp_support import alive, log_lines, own_stdio

from agents.conftest import llm_config, tool_messages
from loom.spec import (
    Agent,
    InputMessageNode,
    MCPTool,
    MCPToolBox,
    ParallelFlowNode,
    ToolNode,
)
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply
from runtime.conftest import linear_flow, prop, props, runtime


def counter(log: Path, label: str, node: str, **extra: object) -> ToolNode:
    tool = MCPTool(name="count", client_transport=own_stdio(log), inputs=[],
                   outputs=[prop(f"said_{label}")], **extra)
    tool.inputs = [prop("label", default=label)]
    return ToolNode(name=node, tool=tool)


def server_pids(log: Path) -> list[int]:
    return [int(line.split()[1]) for line in log_lines(log, "start")]


def gone(pid: int) -> bool:
    """The server process has ended already: the run stopped it before returning (a
    session left to the garbage collector would end it a moment later)."""
    return not alive(pid)


def session_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("loom MCP server")]


async def test_one_session_per_server_per_run_closed_when_the_run_ends(log: Path) -> None:
    flow = linear_flow("twice", counter(log, "a", "first"), counter(log, "b", "second"),
                       outputs=props(said_a="string", said_b="string"), wiring="edges")
    result = await runtime().arun(flow)
    assert session_tasks() == []  # closed by the run, not left to the garbage collector
    assert result.status == "finished", result.error
    assert result.outputs == {"said_a": "counted a", "said_b": "counted b"}
    assert log_lines(log, "call") == ["call a", "call b"]
    [pid] = server_pids(log)  # one session (one server process) for both calls
    assert gone(pid)
    assert (await runtime().arun(flow)).status == "finished"
    assert len(server_pids(log)) == 2  # the next run has its own


def test_parallel_branches_share_the_runs_one_session(log: Path) -> None:
    branches = [linear_flow(f"branch_{label}", counter(log, label, f"count_{label}"),
                            outputs=props(**{f"said_{label}": "string"}), wiring="edges")
                for label in ("a", "b", "c", "d")]
    fan = ParallelFlowNode(name="fan", subflows=branches)
    result = runtime().run(linear_flow("fan_out", fan, outputs=[
        prop(f"said_{label}") for label in "abcd"]))
    assert result.status == "finished", result.error
    assert sorted(log_lines(log, "call")) == ["call a", "call b", "call c", "call d"]
    assert len(server_pids(log)) == 1  # four branches starting together, one session


async def test_the_session_is_closed_when_the_run_fails(log: Path) -> None:
    failing = MCPTool(name="fail", client_transport=own_stdio(log),
                      inputs=[prop("reason", default="no")], outputs=[prop("x")])
    flow = linear_flow("fails", counter(log, "a", "first"), ToolNode(name="boom", tool=failing))
    result = await runtime().arun(flow)
    assert result.status == "failed"
    assert session_tasks() == []
    [pid] = server_pids(log)
    assert gone(pid)


async def test_the_session_is_closed_when_the_run_is_cancelled(log: Path) -> None:
    slow = MCPTool(name="slow", client_transport=own_stdio(log),
                   inputs=[prop("seconds", "number", default=30)], outputs=[prop("x")])
    task = asyncio.ensure_future(runtime().arun(linear_flow("slow", ToolNode(name="s",
                                                                             tool=slow))))
    deadline = time.monotonic() + 60
    while "call slow" not in log_lines(log, "call"):
        assert time.monotonic() < deadline and not task.done()
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert session_tasks() == []
    [pid] = server_pids(log)
    assert gone(pid)


def test_a_resumed_run_does_not_call_the_tool_again(log: Path) -> None:
    ask = InputMessageNode(name="ask", message="Go on?")
    flow = linear_flow("resumable", counter(log, "before", "first"), ask,
                       counter(log, "after", "second"),
                       outputs=props(said_before="string", said_after="string"),
                       wiring="edges")
    rt = runtime()
    waiting = rt.run(flow)
    assert waiting.status == "waiting", waiting.error
    assert log_lines(log, "call") == ["call before"]
    result = rt.resume(waiting.run_id, {waiting.pending[0].id: "yes"})
    assert result.status == "finished", result.error
    assert result.outputs == {"said_before": "counted before", "said_after": "counted after"}
    assert log_lines(log, "call") == ["call before", "call after"]  # 'before' once


def test_requires_confirmation_waits_before_the_call(log: Path) -> None:
    flow = linear_flow("confirmed", counter(log, "a", "first", requires_confirmation=True),
                       outputs=props(said_a="string"), wiring="edges")
    rt = runtime()
    waiting = rt.run(flow)
    assert waiting.status == "waiting"
    [request] = waiting.pending
    assert request.kind == "confirmation"
    assert request.tool_call == {"name": "count", "arguments": {"label": "a"}}
    assert log_lines(log) == []  # no server started for a question
    result = rt.resume(waiting.run_id, {request.id: True})
    assert result.status == "finished", result.error
    assert log_lines(log, "call") == ["call a"]
    refused = rt.run(flow)
    refused = rt.resume(refused.run_id, {refused.pending[0].id: False})
    assert refused.status == "failed"
    assert "refused" in refused.error.message
    assert log_lines(log, "call") == ["call a"]


def test_a_resumed_agent_calls_no_mcp_tool_and_lists_no_toolbox_again(
    log: Path, fake_llm: FakeLlmServer
) -> None:
    tool = MCPTool(name="count", client_transport=own_stdio(log), inputs=props(label="string"),
                   outputs=[prop("said")])
    box = MCPToolBox(name="own_box", client_transport=own_stdio(log), tool_filter=["add"])
    agent = Agent(name="helper", llm_config=llm_config(fake_llm), system_prompt="You help.",
                  tools=[tool], toolboxes=[box])
    fake_llm.script_sequence([
        ToolCallsReply([ScriptedToolCall("count", {"label": "x"}),
                        ScriptedToolCall("add", {"a": 1, "b": 2})]),
        "Counted.", "Bye."])
    rt = runtime()
    first = rt.run(agent)  # waits for the user's first message
    second = rt.resume(first.run_id, {first.pending[0].id: "count x"})
    assert second.status == "waiting", second.error
    assert log_lines(log, "call") == ["call x", "call add 1 2"]
    assert tool_messages(fake_llm.requests[1]) == ["counted x", "3"]
    third = rt.resume(second.run_id, {second.pending[0].id: "thanks"})
    assert third.status == "waiting", third.error
    assert log_lines(log, "call") == ["call x", "call add 1 2"]
    assert len(log_lines(log, "start")) == 1  # the replay needed no server at all
