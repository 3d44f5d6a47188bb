"""Documents written by pyagentspec 26.3.1 (the reference SDK, a test oracle): an MCPTool
flow runs unchanged; retry_policy follows the SDK's fields and version gate."""

from __future__ import annotations

import json
import sys

import pytest

import loom
from loom.spec import MCPTool, MCPToolBox, StdioTransport
from runtime.conftest import runtime

pytest.importorskip("pyagentspec", reason="pyagentspec (the test oracle) is not installed")


def sdk_convert_time_flow() -> str:
    """The flow as the SDK writes it: StartNode -> ToolNode(MCPTool convert_time) -> EndNode,
    the tool declaring the three outputs of convert_time."""
    from pyagentspec.flows.edges import ControlFlowEdge, DataFlowEdge
    from pyagentspec.flows.flow import Flow
    from pyagentspec.flows.nodes import EndNode, StartNode, ToolNode
    from pyagentspec.mcp import MCPTool as SdkMCPTool
    from pyagentspec.mcp.clienttransport import StdioTransport as SdkStdio
    from pyagentspec.property import Property, StringProperty
    from pyagentspec.serialization import AgentSpecSerializer

    zone = {"type": "object", "properties": {"timezone": {"type": "string"}}}
    inputs = [StringProperty(title=t) for t in ("source_timezone", "time", "target_timezone")]
    outputs = [Property(json_schema={"title": "source", **zone}),
               Property(json_schema={"title": "target", **zone}),
               StringProperty(title="time_difference")]
    transport = SdkStdio(name="time", command=sys.executable,
                         args=["-m", "mcp_server_time", "--local-timezone", "UTC"])
    tool = SdkMCPTool(name="convert_time", client_transport=transport, inputs=inputs,
                      outputs=outputs)
    start = StartNode(name="start", inputs=inputs)
    node = ToolNode(name="convert", tool=tool)
    end = EndNode(name="end", outputs=outputs)
    flow = Flow(
        name="convert_flow", start_node=start, nodes=[start, node, end],
        control_flow_connections=[
            ControlFlowEdge(name="c1", from_node=start, to_node=node),
            ControlFlowEdge(name="c2", from_node=node, to_node=end)],
        data_flow_connections=[
            DataFlowEdge(name=f"in_{p.title}", source_node=start, source_output=p.title,
                         destination_node=node, destination_input=p.title) for p in inputs
        ] + [
            DataFlowEdge(name=f"out_{p.title}", source_node=node, source_output=p.title,
                         destination_node=end, destination_input=p.title) for p in outputs
        ],
        inputs=inputs, outputs=outputs,
    )
    return AgentSpecSerializer().to_json(flow)


def test_an_sdk_written_mcp_flow_runs_unchanged() -> None:
    text = sdk_convert_time_flow()
    with pytest.raises(loom.LoadError, match="--allow-components StdioTransport"):
        runtime().load(text)  # a file may not start a local process unless allowed
    result = runtime(allowed_components=["StdioTransport"]).run(text, {"source_timezone": "Europe/Paris", "time": "12:00",
                                  "target_timezone": "Asia/Tokyo"})
    assert result.status == "finished", result.error
    assert result.outputs["time_difference"] == "+8.0h"
    assert result.outputs["target"]["timezone"] == "Asia/Tokyo"


def sdk_read(text: str) -> object:
    from pyagentspec.serialization import AgentSpecDeserializer

    return AgentSpecDeserializer().from_json(text)


@pytest.mark.parametrize("cls", [MCPTool, MCPToolBox])
def test_retry_policy_is_written_at_26_3_1_and_read_by_the_sdk(cls: type) -> None:
    transport = StdioTransport(name="s", command="server")
    component = cls(name="c", client_transport=transport,
                    retry_policy={"max_attempts": 4, "initial_retry_delay": 0.5})
    document = json.loads(loom.dumps(component))
    assert document["agentspec_version"] == "26.3.1"  # a non-null policy needs 26.3.1
    assert document["retry_policy"] == {"max_attempts": 4, "initial_retry_delay": 0.5}
    theirs = sdk_read(json.dumps(document))
    assert theirs.retry_policy.max_attempts == 4  # type: ignore[attr-defined]
    assert theirs.retry_policy.initial_retry_delay == 0.5  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", [MCPTool, MCPToolBox])
def test_a_null_retry_policy_is_left_out_of_older_documents(cls: type) -> None:
    component = cls(name="c", client_transport=StdioTransport(name="s", command="server"))
    document = json.loads(loom.dumps(component))
    assert "retry_policy" not in document
    assert document["agentspec_version"] != "26.3.1"
    assert sdk_read(json.dumps(document)).retry_policy is None  # type: ignore[attr-defined]


def test_a_bad_retry_policy_is_refused_naming_the_tool() -> None:
    with pytest.raises(loom.SpecError) as info:
        MCPTool(name="picky", client_transport=StdioTransport(name="s", command="server"),
                retry_policy={"max_attempts": "many"})
    assert "picky" in str(info.value)
    assert "retry_policy.max_attempts" in str(info.value)
