"""Where the writer puts components, and which version and fields it writes."""

from __future__ import annotations

from typing import Any

import loom
from loom.spec import (
    ControlFlowEdge,
    DataFlowEdge,
    EndNode,
    Flow,
    FlowNode,
    LlmNode,
    Node,
    ParallelFlowNode,
    StartNode,
    StringProperty,
    ToolNode,
    VllmConfig,
)
from loom.spec.property import Property
from loom.spec.tools import ServerTool
from loom.spec.walk import walk


def chain(
    name: str,
    middle: list[Node],
    inputs: list[Property] | None = None,
    outputs: list[Property] | None = None,
    wires: list[tuple[Node | str, str, Node | str, str]] | None = None,
) -> Flow:
    """start -> middle... -> end; in ``wires`` "start"/"end" stand for those nodes."""
    start = StartNode(id=f"{name}_start", name=f"{name}_start", inputs=inputs or [])
    end = EndNode(id=f"{name}_end", name=f"{name}_end", inputs=outputs or [])
    nodes = [start, *middle, end]
    named: dict[str, Node] = {"start": start, "end": end}

    def node(value: Node | str) -> Node:
        return named[value] if isinstance(value, str) else value

    return Flow(
        id=name, name=name, start_node=start, nodes=nodes,
        control_flow_connections=[
            ControlFlowEdge(id=f"{name}_c{i}", name=f"c{i}", from_node=a, to_node=b)
            for i, (a, b) in enumerate(zip(nodes, nodes[1:], strict=False))
        ],
        data_flow_connections=None if wires is None else [
            DataFlowEdge(id=f"{name}_d{i}", name=f"d{i}", source_node=node(s), source_output=o,
                         destination_node=node(d), destination_input=n)
            for i, (s, o, d, n) in enumerate(wires)
        ],
    )


def llm() -> VllmConfig:
    return VllmConfig(id="llm", name="llm", model_id="m", url="http://127.0.0.1:18765/v1")


def writer_flow(name: str, config: VllmConfig) -> Flow:
    node = LlmNode(id=f"{name}_llm", name=f"{name}_llm", llm_config=config, prompt_template="hi",
                   outputs=[StringProperty(f"{name}_text")])
    return chain(name, [node], outputs=[StringProperty(f"{name}_text")],
                 wires=[(node, f"{name}_text", "end", f"{name}_text")])


def refs(data: dict[str, Any]) -> list[str]:
    return list(data.get("$referenced_components", {}))


def test_nodes_are_referenced_and_defined_in_their_flow() -> None:
    data = loom.to_dict(writer_flow("f", llm()))
    assert data["start_node"] == {"$component_ref": "f_start"}
    assert data["nodes"] == [{"$component_ref": key} for key in ("f_start", "f_llm", "f_end")]
    assert sorted(refs(data)) == ["f_end", "f_llm", "f_start"]
    # an edge is used once: written inline; so is the LLM config, used by one node
    assert all(edge["component_type"] == "ControlFlowEdge" for edge in data["control_flow_connections"])
    assert data["$referenced_components"]["f_llm"]["llm_config"]["component_type"] == "VllmConfig"


def test_a_component_shared_by_subflows_lives_in_their_common_parent() -> None:
    config = llm()
    parallel = ParallelFlowNode(id="pfn", name="pfn", subflows=[writer_flow("a", config), writer_flow("b", config)])
    top = chain("top", [parallel])
    data = loom.to_dict(top)
    pfn = data["$referenced_components"]["pfn"]
    assert refs(pfn) == ["llm"]
    assert "llm" not in refs(data)
    for subflow in pfn["subflows"]:
        assert subflow["$referenced_components"][f"{subflow['id']}_llm"]["llm_config"] == {
            "$component_ref": "llm"
        }


def test_a_component_shared_across_levels_lives_at_the_top() -> None:
    config = llm()
    inner = FlowNode(id="inner", name="inner", subflow=writer_flow("sub", config))
    direct = LlmNode(id="direct", name="direct", llm_config=config, prompt_template="hello")
    top = chain("top", [direct, inner])
    data = loom.to_dict(top)
    assert "llm" in refs(data)
    assert data["$referenced_components"]["direct"]["llm_config"] == {"$component_ref": "llm"}
    # and it loads back as one object
    again = loom.loads(loom.dumps(top))
    configs = {id(c) for c in walk(again) if isinstance(c, VllmConfig)}
    assert len(configs) == 1


def test_the_lowest_version_is_written_with_only_its_fields() -> None:
    tool = ServerTool(id="t", name="t", inputs=[StringProperty("x")], outputs=[StringProperty("x")])
    node = ToolNode(id="n", name="n", tool=tool)
    flow = chain("f", [node], inputs=[StringProperty("x")], outputs=[StringProperty("x")])
    data = loom.to_dict(flow)
    assert data["agentspec_version"] == "25.4.1"
    assert "requires_confirmation" not in data["$referenced_components"]["n"]["tool"]
    newer = loom.to_dict(flow, agentspec_version="25.4.2")
    assert newer["agentspec_version"] == "25.4.2"
    assert newer["$referenced_components"]["n"]["tool"]["requires_confirmation"] is False


def test_a_feature_raises_the_written_version() -> None:
    tool = ServerTool(id="t", name="t", requires_confirmation=True)
    data = loom.to_dict(tool)
    assert data["agentspec_version"] == "25.4.2"
    assert data["requires_confirmation"] is True
    parallel = chain("p", [ParallelFlowNode(id="pfn", name="pfn")])
    assert loom.to_dict(parallel)["agentspec_version"] == "25.4.2"


def test_key_order_follows_pyagentspec() -> None:
    data = loom.to_dict(writer_flow("f", llm()))
    assert list(data)[:4] == ["component_type", "id", "name", "description"]
    assert list(data)[-2:] == ["$referenced_components", "agentspec_version"]


def test_root_component_is_written_inline_even_when_referenced_twice_inside() -> None:
    start = StartNode(id="s", name="s")
    end = EndNode(id="e", name="e")
    flow = Flow(id="f", name="f", start_node=start, nodes=[start, end],
                control_flow_connections=[ControlFlowEdge(name="c", from_node=start, to_node=end)])
    data = loom.to_dict(flow)
    assert data["component_type"] == "Flow"
    assert sorted(refs(data)) == ["e", "s"]
