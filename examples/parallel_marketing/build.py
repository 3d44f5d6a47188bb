"""Build the ParallelFlowNode marketing flow with loom's Python API.

This is the flow of the Agent Spec ParallelFlowNode guide, corrected: the
LlmNode's ``generated_text`` feeds the OutputMessageNode's ``{{output}}`` and
the message is also the flow's output. Run ``python build.py`` to write
``flow.json`` and ``flow.yaml`` next to this file.
"""

from __future__ import annotations

from pathlib import Path

import loom
from loom.spec import (
    ControlFlowEdge,
    DataFlowEdge,
    DictProperty,
    EndNode,
    Flow,
    ListProperty,
    LlmNode,
    OutputMessageNode,
    ParallelFlowNode,
    ServerTool,
    StartNode,
    StringProperty,
    ToolNode,
    VllmConfig,
)

HERE = Path(__file__).parent
RECORD = DictProperty(title="record", value_type=StringProperty(title="value"))

PROMPT = """# Instructions

You are a marketing expert. You have to write a welcome message for a user.

The message must contain:
- A first sentence of greetings, including user's name, and personalized in case it's user's birthday
- A proposal containing something to buy

The purchase proposal must be:
- aligned with user's purchase history
- part of the list of items on sale

# User information

{{user_info}}

Note that the current time to check the birthday is: {{current_time}}

The list of items purchased by the user is:
{{user_purchases}}

# Items on sale

{{items_on_sale}}

Please write the welcome message for the user.
Do not give me the instructions to do it, I want only the final message to send.
"""


def edge(name: str, source, output: str, dest, input_: str) -> DataFlowEdge:  # type: ignore[no-untyped-def]
    return DataFlowEdge(
        id=name, name=name, source_node=source, source_output=output,
        destination_node=dest, destination_input=input_,
    )


def tool_subflow(tool: ServerTool) -> Flow:
    """A one-node flow that runs ``tool``: the shape ParallelFlowNode runs."""
    inputs = list(tool.inputs or [])
    outputs = list(tool.outputs or [])
    start = StartNode(id=f"{tool.name}_start", name="start", inputs=inputs)
    step = ToolNode(id=f"{tool.name}_step", name=f"{tool.name}_step", tool=tool)
    end = EndNode(id=f"{tool.name}_end", name="end", inputs=outputs)
    data = [edge(f"{tool.name}_in_{p.title}", start, p.title, step, p.title) for p in inputs]
    data += [edge(f"{tool.name}_out_{p.title}", step, p.title, end, p.title) for p in outputs]
    return Flow(
        id=f"{tool.name}_flow",
        name=f"{tool.name}_flow",
        start_node=start,
        nodes=[start, step, end],
        control_flow_connections=[
            ControlFlowEdge(id=f"{tool.name}_c1", name="c1", from_node=start, to_node=step),
            ControlFlowEdge(id=f"{tool.name}_c2", name="c2", from_node=step, to_node=end),
        ],
        data_flow_connections=data,
    )


def build() -> Flow:
    username = StringProperty(title="username")
    tools = [
        ServerTool(id="get_current_time", name="get_current_time",
                   description="Return current time",
                   outputs=[StringProperty(title="current_time")]),
        ServerTool(id="get_user_information", name="get_user_information",
                   description="Retrieve information about a user", inputs=[username],
                   outputs=[DictProperty(title="user_info", value_type={"type": "string"})]),
        ServerTool(id="get_user_last_purchases", name="get_user_last_purchases",
                   description="Retrieve the list of purchases made by a user",
                   inputs=[username],
                   outputs=[ListProperty(title="user_purchases",
                                         item_type={"type": "object", "properties": {},
                                                    "additionalProperties": {"type": "string"}})]),
        ServerTool(id="get_items_on_sale", name="get_items_on_sale",
                   description="Retrieve the list of items currently on sale",
                   outputs=[ListProperty(title="items_on_sale",
                                         item_type={"type": "object", "properties": {},
                                                    "additionalProperties": {"type": "string"}})]),
    ]
    parallel = ParallelFlowNode(
        id="parallel_flow_node", name="parallel_flow_node",
        subflows=[tool_subflow(tool) for tool in tools],
    )
    llm = VllmConfig(
        id="llm", name="marketing_llm", model_id="fake-model", url="http://127.0.0.1:18765/v1"
    )
    writer = LlmNode(
        id="prepare_marketing_message", name="prepare_marketing_message",
        llm_config=llm, prompt_template=PROMPT,
    )
    say = OutputMessageNode(id="output_message", name="output_message", message="{{output}}")
    start = StartNode(id="start", name="start", inputs=[username])
    end = EndNode(id="end", name="end", inputs=[StringProperty(title="marketing_message")])
    outputs = ["current_time", "user_info", "user_purchases", "items_on_sale"]
    return Flow(
        id="marketing_message_flow",
        name="marketing_message_flow",
        start_node=start,
        nodes=[start, parallel, writer, say, end],
        control_flow_connections=[
            ControlFlowEdge(id="c1", name="c1", from_node=start, to_node=parallel),
            ControlFlowEdge(id="c2", name="c2", from_node=parallel, to_node=writer),
            ControlFlowEdge(id="c3", name="c3", from_node=writer, to_node=say),
            ControlFlowEdge(id="c4", name="c4", from_node=say, to_node=end),
        ],
        data_flow_connections=[
            edge("d_username", start, "username", parallel, "username"),
            *[edge(f"d_{name}", parallel, name, writer, name) for name in outputs],
            edge("d_message", writer, "generated_text", say, "output"),
            edge("d_result", writer, "generated_text", end, "marketing_message"),
        ],
    )


def main() -> None:
    flow = build()
    loom.dump(flow, HERE / "flow.json")
    loom.dump(flow, HERE / "flow.yaml")


if __name__ == "__main__":
    main()
