"""A flow written with pyagentspec's Python API runs in loom as it is."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Recorder, runtime

pytest.importorskip("pyagentspec")

from pyagentspec.flows.edges import ControlFlowEdge, DataFlowEdge  # noqa: E402
from pyagentspec.flows.flow import Flow  # noqa: E402
from pyagentspec.flows.nodes import (  # noqa: E402
    EndNode,
    ParallelFlowNode,
    StartNode,
    ToolNode,
)
from pyagentspec.property import ListProperty, StringProperty  # noqa: E402
from pyagentspec.tools import ServerTool  # noqa: E402


def one_tool_flow(tool: ServerTool, flow_inputs: list[Any]) -> Flow:
    start = StartNode(name="start", inputs=flow_inputs)
    step = ToolNode(name=f"{tool.name}_step", tool=tool)
    end = EndNode(name="end", outputs=tool.outputs)
    return Flow(
        name=f"{tool.name}_flow",
        start_node=start,
        nodes=[start, step, end],
        control_flow_connections=[
            ControlFlowEdge(name="start_to_step", from_node=start, to_node=step),
            ControlFlowEdge(name="step_to_end", from_node=step, to_node=end),
        ],
        data_flow_connections=[
            *(DataFlowEdge(name=f"in_{p.title}", source_node=start, source_output=p.title,
                           destination_node=step, destination_input=p.title)
              for p in tool.inputs or []),
            *(DataFlowEdge(name=f"out_{p.title}", source_node=step, source_output=p.title,
                           destination_node=end, destination_input=p.title)
              for p in tool.outputs or []),
        ],
    )


def marketing_flow() -> Flow:
    username = StringProperty(title="username")
    tools = [
        ServerTool(name="get_user_information", inputs=[username],
                   outputs=[StringProperty(title="user_info")]),
        ServerTool(name="get_current_time", inputs=[],
                   outputs=[StringProperty(title="current_time")]),
        ServerTool(name="get_items_on_sale", inputs=[],
                   outputs=[ListProperty(title="items_on_sale",
                                         item_type=StringProperty(title="item"))]),
    ]
    subflows = [one_tool_flow(tool, list(tool.inputs or [])) for tool in tools]
    fan = ParallelFlowNode(name="parallel_flow_node", subflows=subflows)
    start = StartNode(name="start", inputs=[username])
    end = EndNode(name="end", outputs=list(fan.outputs or []))
    return Flow(
        name="marketing_message_flow",
        start_node=start,
        nodes=[start, fan, end],
        control_flow_connections=[
            ControlFlowEdge(name="c1", from_node=start, to_node=fan),
            ControlFlowEdge(name="c2", from_node=fan, to_node=end),
        ],
        data_flow_connections=[
            DataFlowEdge(name="d_user", source_node=start, source_output="username",
                         destination_node=fan, destination_input="username"),
            *(DataFlowEdge(name=f"d_{p.title}", source_node=fan, source_output=p.title,
                           destination_node=end, destination_input=p.title)
              for p in fan.outputs or []),
        ],
    )


def test_pyagentspec_flow_with_server_tools_and_parallel_flow_node_runs() -> None:
    rec = Recorder()
    rt = runtime({
        "get_user_information": rec.sync_tool("get_user_information", 0.05,
                                              lambda username: f"{username} (gold member)"),
        "get_current_time": rec.async_tool("get_current_time", 0.05, "09:30"),
        "get_items_on_sale": rec.sync_tool("get_items_on_sale", 0.05, ["kayak", "tent"]),
    })
    result = rt.run(marketing_flow(), {"username": "ada"})
    assert result.status == "finished", result.error
    assert result.outputs == {
        "user_info": "ada (gold member)",
        "current_time": "09:30",
        "items_on_sale": ["kayak", "tent"],
    }
    assert rec.named("get_user_information")[0].args == {"username": "ada"}
    assert max(s.start for s in rec.spans) < min(s.end or 0.0 for s in rec.spans)


def test_pyagentspec_flow_failure_is_reported_with_pyagentspec_names() -> None:
    def unavailable(username: str) -> str:
        raise LookupError(f"no user {username}")

    rt = runtime({"get_user_information": unavailable, "get_current_time": lambda: "now",
                  "get_items_on_sale": lambda: []})
    result = rt.run(marketing_flow(), {"username": "bob"})
    assert result.status == "failed" and result.error is not None
    assert result.error.node == (
        "marketing_message_flow > parallel_flow_node > get_user_information_flow"
        " > get_user_information_step")
    assert "no user bob" in result.error.message
