"""mcp-server-time (PyPI, written by the MCP project) over stdio, from ToolNodes."""

from __future__ import annotations

import json

from mcp_support import time_stdio, tool_flow

from loom.spec import MCPTool
from runtime.conftest import prop, props, runtime

PARIS_NOON = {"source_timezone": "Europe/Paris", "time": "12:00",
              "target_timezone": "Asia/Tokyo"}
ZONE = {"type": "object", "properties": {"timezone": {"type": "string"},
                                         "datetime": {"type": "string"}}}


def convert_time(outputs: list) -> MCPTool:
    return MCPTool(name="convert_time", client_transport=time_stdio(),
                   inputs=props(source_timezone="string", time="string",
                                target_timezone="string"),
                   outputs=outputs)


def test_three_declared_outputs_come_from_the_structured_content() -> None:
    """WayFlow 26.3.1 fails this flow ("the tool has several outputs, it should return
    a dictionary"): it passes the text content on."""
    tool = convert_time([prop("source", ZONE), prop("target", ZONE),
                         prop("time_difference")])
    result = runtime().run(tool_flow(tool), PARIS_NOON)
    assert result.status == "finished", result.error
    assert result.outputs["time_difference"] == "+8.0h"
    assert result.outputs["source"]["timezone"] == "Europe/Paris"
    assert result.outputs["target"]["datetime"].endswith("T20:00:00+09:00")


def test_a_single_string_output_gets_the_text_content() -> None:
    tool = convert_time([prop("answer")])
    result = runtime().run(tool_flow(tool), PARIS_NOON)
    assert result.status == "finished", result.error
    text = result.outputs["answer"]
    assert isinstance(text, str)
    assert json.loads(text)["time_difference"] == "+8.0h"


def test_the_tools_own_error_fails_the_node_naming_tool_and_server() -> None:
    tool = MCPTool(name="get_current_time", client_transport=time_stdio(),
                   inputs=props(timezone="string"), outputs=[prop("now")])
    result = runtime().run(tool_flow(tool, node="ask_clock"), {"timezone": "Nowhere/Else"})
    assert result.status == "failed"
    assert result.error.node.endswith("ask_clock")
    message = result.error.message
    assert "ToolNode 'ask_clock'" in message
    assert "tool 'get_current_time'" in message
    assert "MCP server 'time'" in message
    assert "Nowhere/Else" in message
