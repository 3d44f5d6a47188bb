"""MCP calls go through the effects door: on Temporal each call (and an agent's
toolbox listing) is an activity run on the worker, with the same results as locally.

The server is the MCP tests' own (built with the ``mcp`` SDK), over streamable HTTP:
a StdioTransport is refused by the component policy the workflow loads flows with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loom.spec import Agent, MCPTool, MCPToolBox, StreamableHTTPTransport, ToolNode
from loom.spec.llms import OpenAiCompatibleConfig
from loom.temporal import connect
from loom.temporal.names import MCP_ACTIVITY, MCP_END_ACTIVITY
from loom.testing import ScriptedToolCall, ToolCallsReply
from runtime.conftest import FAST_RETRY, linear_flow, prop, props
from temporal.backends import BACKENDS
from temporal.test_scenarios import Counted, same_on_both

pytestmark = pytest.mark.timeout(120)


def calls(log: Path, prefix: str) -> int:
    return sum(line.startswith(prefix) for line in log.read_text().splitlines())


def transport(url: str) -> StreamableHTTPTransport:
    return StreamableHTTPTransport(name="own", url=url)


def no_tools() -> Counted:
    return Counted()


async def activity_types(server: str, run_id: str) -> list[str]:
    history = await (await connect(server)).get_workflow_handle(run_id).fetch_history()
    return [event.activity_task_scheduled_event_attributes.activity_type.name
            for event in history.events
            if event.HasField("activity_task_scheduled_event_attributes")]


@pytest.mark.parametrize("kind", BACKENDS)
async def test_an_mcp_tool_node_is_an_activity(kind, temporal_server, task_queue,
                                               mcp_server) -> None:
    url, log = mcp_server
    tool = MCPTool(name="add", client_transport=transport(url),
                   inputs=props(a="integer", b="integer"), outputs=[prop("sum", "integer")])
    node = ToolNode(name="adder", tool=tool)
    flow = linear_flow("mcp_flow", node, inputs=list(tool.inputs or []),
                       outputs=[prop("sum", "integer")], wiring="edges")
    before = calls(log, "call add 20 22")
    result, _ = await same_on_both(kind, temporal_server, task_queue, no_tools, flow,
                                   {"a": 20, "b": 22})
    assert result.status == "finished", result.error
    assert result.outputs == {"sum": 42}
    runs = 2 if kind == "temporal" else 1  # same_on_both runs it locally first
    assert calls(log, "call add 20 22") - before == runs
    if kind == "temporal":
        assert await activity_types(temporal_server, result.run_id) == [
            MCP_ACTIVITY, MCP_END_ACTIVITY]  # the call, then its session closed


@pytest.mark.parametrize("kind", BACKENDS)
async def test_an_mcp_tools_failure_reads_as_locally(kind, temporal_server, task_queue,
                                                     mcp_server) -> None:
    url, _ = mcp_server
    tool = MCPTool(name="fail", client_transport=transport(url), inputs=props(reason="string"),
                   outputs=[prop("text")])
    node = ToolNode(name="failing", tool=tool)
    flow = linear_flow("mcp_flow", node, inputs=list(tool.inputs or []), outputs=[prop("text")],
                       wiring="edges")
    result, _ = await same_on_both(kind, temporal_server, task_queue, no_tools, flow,
                                   {"reason": "out of paper"})
    assert result.status == "failed"
    assert result.error is not None and result.error.node == "mcp_flow > failing"
    assert "tool 'fail' on MCP server 'own'" in result.error.message
    assert "out of paper" in result.error.message


@pytest.mark.parametrize("kind", BACKENDS)
async def test_an_agents_mcp_toolbox_lists_and_calls_on_the_worker(
    kind, temporal_server, task_queue, mcp_server, llm_server
) -> None:
    url, log = mcp_server
    config = OpenAiCompatibleConfig(name="fake", url=llm_server.url, model_id="fake-model",
                                    retry_policy=dict(FAST_RETRY))
    box = MCPToolBox(name="own_tools", client_transport=transport(url), tool_filter=["add"])
    agent = Agent(name="helper", llm_config=config, system_prompt="You add.", toolboxes=[box],
                  human_in_the_loop=False)

    def script() -> None:
        llm_server.reset()
        llm_server.script_sequence([
            ToolCallsReply([ScriptedToolCall("add", {"a": 1, "b": 2}),
                            ScriptedToolCall("add", {"a": 30, "b": 4})]),
            "3 and 34."])

    before = calls(log, "call add")
    result, _ = await same_on_both(kind, temporal_server, task_queue, no_tools, agent,
                                   script=script, llm=llm_server)
    assert result.status == "finished", result.error
    tool_answers: list[Any] = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert tool_answers == ["3", "34"]
    runs = 2 if kind == "temporal" else 1
    assert calls(log, "call add") - before == 2 * runs
    if kind == "temporal":
        kinds = await activity_types(temporal_server, result.run_id)
        assert kinds.count(MCP_ACTIVITY) == 3  # the listing and two calls
