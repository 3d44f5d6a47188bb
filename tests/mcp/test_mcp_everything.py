"""@modelcontextprotocol/server-everything (npm, the MCP project's reference server) over
stdio, SSE and streamable HTTP; ./scripts/setup installs it into .cache/npm-tools."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp_support import everything_command, free_port, serving, tool_flow

from agents.conftest import llm_config, tool_messages
from loom.spec import (
    Agent,
    MCPTool,
    MCPToolBox,
    MCPToolSpec,
    SSETransport,
    StdioTransport,
    StreamableHTTPTransport,
)
from loom.spec.transports import ClientTransport
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply
from runtime.conftest import prop, props, runtime


@pytest.fixture(scope="module", params=["stdio", "sse", "streamableHttp"])
def everything(request: pytest.FixtureRequest) -> Iterator[ClientTransport]:
    """The server over one transport; the HTTP ones run as a subprocess on a free port."""
    command = everything_command()
    kind = request.param
    if kind == "stdio":
        yield StdioTransport(name="everything", command=command, args=["stdio"])
        return
    port = free_port()
    with serving([command, kind], port, env={"PORT": str(port)}):
        if kind == "sse":
            yield SSETransport(name="everything", url=f"http://127.0.0.1:{port}/sse")
        else:
            yield StreamableHTTPTransport(name="everything", url=f"http://127.0.0.1:{port}/mcp")


def test_echo_from_a_tool_node(everything: ClientTransport) -> None:
    tool = MCPTool(name="echo", client_transport=everything, inputs=props(message="string"),
                   outputs=[prop("reply")])
    seen: list[str] = []
    result = runtime(listeners=[lambda event: seen.append(event.type)]).run(
        tool_flow(tool), {"message": "hello over MCP"})
    assert result.status == "finished", result.error
    assert result.outputs == {"reply": "Echo: hello over MCP"}
    assert [t for t in seen if t.startswith("tool_")] == ["tool_start", "tool_end"]


def test_an_agent_uses_a_toolbox_narrowed_by_tool_filter(
    everything: ClientTransport, fake_llm: FakeLlmServer
) -> None:
    box = MCPToolBox(name="everything_box", client_transport=everything, tool_filter=[
        "echo",
        MCPToolSpec(name="get-sum", description="Adds a and b.",
                    inputs=props(a="number", b="number")),
    ])
    agent = Agent(name="helper", llm_config=llm_config(fake_llm), system_prompt="You help.",
                  toolboxes=[box], human_in_the_loop=False)
    fake_llm.script_sequence([
        ToolCallsReply([ScriptedToolCall("get-sum", {"a": 2, "b": 40}),
                        ScriptedToolCall("echo", {"message": "hi"})]),
        "The sum is 42.",
    ])
    result = runtime().run(agent)
    assert result.status == "finished", result.error
    first, second = fake_llm.requests
    tools = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert sorted(tools) == ["echo", "get-sum"]  # only those of tool_filter
    assert tools["get-sum"]["description"] == "Adds a and b."
    assert tools["echo"]["parameters"]["properties"]["message"]["type"] == "string"
    assert tool_messages(second) == ["The sum of 2 and 40 is 42.", "Echo: hi"]


def test_an_agents_mcp_tool_error_goes_back_to_the_model(
    everything: ClientTransport, fake_llm: FakeLlmServer
) -> None:
    tool = MCPTool(name="get-sum", client_transport=everything,
                   inputs=props(a="number", b="number"), outputs=[prop("sum")])
    missing = MCPTool(name="no-such-tool", client_transport=everything, outputs=[prop("x")])
    agent = Agent(name="helper", llm_config=llm_config(fake_llm), system_prompt="You help.",
                  tools=[tool, missing], human_in_the_loop=False)
    fake_llm.script_sequence([
        ToolCallsReply([ScriptedToolCall("get-sum", {"a": 1, "b": 2}),
                        ScriptedToolCall("no-such-tool", {})]),
        "Done.",
    ])
    result = runtime().run(agent)
    assert result.status == "finished", result.error
    ok, failed = tool_messages(fake_llm.requests[1])
    assert ok == "The sum of 1 and 2 is 3."
    assert "has no tool 'no-such-tool'" in failed
    assert "MCP server 'everything'" in failed
    assert "agent 'helper'" in failed
