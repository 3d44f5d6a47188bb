"""Rules of the nodes that run subflows: MapNode, ParallelMapNode, ParallelFlowNode,
CatchExceptionNode, FlowNode branches (AGENTSPEC 5.6-5.9, 5.14)."""

from __future__ import annotations

import pytest

from loom.errors import SpecError
from loom.spec import (
    CatchExceptionNode,
    ControlFlowEdge,
    EndNode,
    Flow,
    FlowNode,
    MapNode,
    ParallelFlowNode,
    ParallelMapNode,
    StartNode,
    ToolNode,
)
from loom.spec.property import DictProperty, IntegerProperty, NumberProperty, StringProperty

from ._build import chain, tool


def schemas(props: list | None) -> list[dict]:
    return [p.json_schema for p in props or []]


def square_flow() -> Flow:
    """x: integer -> square: integer, label: string."""
    t = tool("square", [IntegerProperty("x")], [IntegerProperty("square"), StringProperty("label")])
    node = ToolNode(id="sq", name="sq", tool=t)
    return chain(
        "square_flow", [node],
        inputs=[IntegerProperty("x")],
        outputs=[IntegerProperty("square"), StringProperty("label")],
        wires=[("start", "x", node, "x"), (node, "square", "end", "square"), (node, "label", "end", "label")],
    )


def two_ends_flow(*branches: str) -> Flow:
    start = StartNode(id="s", name="s", inputs=[StringProperty("v")])
    ends = [EndNode(id=b, name=b, branch_name=b, inputs=[StringProperty("v")]) for b in branches]
    edges = [ControlFlowEdge(name="c", from_node=start, to_node=ends[0])]
    router = None
    if len(ends) > 1:
        from loom.spec import BranchingNode

        router = BranchingNode(id="r", name="r", mapping={b: b for b in branches[1:]},
                               inputs=[StringProperty("v")])
        edges = [ControlFlowEdge(name="c0", from_node=start, to_node=router)] + [
            ControlFlowEdge(name=f"c{i}", from_node=router, from_branch=b, to_node=end)
            for i, (b, end) in enumerate(zip(branches[1:], ends[1:], strict=True), 1)
        ] + [ControlFlowEdge(name="cd", from_node=router, from_branch="default", to_node=ends[0])]
    nodes = [start, *([router] if router else []), *ends]
    return Flow(name="multi", start_node=start, nodes=nodes, control_flow_connections=edges)


# -- MapNode ------------------------------------------------------------------------------------


def test_map_node_inputs_accept_one_value_or_a_list() -> None:
    node = MapNode(name="map", subflow=square_flow())
    assert schemas(node.inputs) == [
        {
            "title": "iterated_x",
            "anyOf": [
                {"title": "x", "type": "integer"},
                {"title": "x", "type": "array", "items": {"title": "x", "type": "integer"}},
            ],
        }
    ]
    assert node.branches == ["next"]


def test_map_node_reduces_every_output_with_append_by_default() -> None:
    node = MapNode(name="map", subflow=square_flow())
    assert node.reducers == {"square": "append", "label": "append"}
    assert [p.title for p in node.outputs or []] == ["collected_square", "collected_label"]
    assert node.outputs and node.outputs[0].json_schema == {
        "title": "collected_square", "type": "array", "items": {"title": "square", "type": "integer"},
    }


def test_map_node_only_exposes_reduced_outputs() -> None:
    node = MapNode(name="map", subflow=square_flow(), reducers={"square": "sum"})
    assert schemas(node.outputs) == [{"title": "collected_square", "type": "integer"}]


@pytest.mark.parametrize("method", ["sum", "average", "max", "min"])
def test_numeric_reducers_need_a_numeric_output(method: str) -> None:
    with pytest.raises(SpecError, match=f"reducer '{method}' needs a numeric output.*'label' is string"):
        MapNode(name="map", subflow=square_flow(), reducers={"label": method})


def test_reducer_keys_are_subflow_output_names() -> None:
    with pytest.raises(SpecError, match="the subflow has no output 'collected_square'") as info:
        MapNode(name="map", subflow=square_flow(), reducers={"collected_square": "append"})
    assert "MapNode 'map'" in str(info.value)


def test_unknown_reducer_is_refused() -> None:
    with pytest.raises(Exception, match="avg"):
        MapNode(name="map", subflow=square_flow(), reducers={"square": "avg"})  # type: ignore[dict-item]


def test_parallel_map_node_is_a_map_node_of_25_4_2() -> None:
    node = ParallelMapNode(name="pmap", subflow=square_flow())
    assert [p.title for p in node.inputs or []] == ["iterated_x"]
    assert ("25.4.2", "ParallelMapNode") in node.feature_versions()


# -- ParallelFlowNode --------------------------------------------------------------------------


def single_tool_flow(name: str, inputs: list, output) -> Flow:  # type: ignore[no-untyped-def]
    t = tool(name, inputs, [output])
    node = ToolNode(id=f"{name}_node", name=f"{name}_node", tool=t)
    wires = [("start", p.title, node, p.title) for p in inputs]
    wires.append((node, output.title, "end", output.title))
    return chain(f"{name}_flow", [node], inputs=inputs, outputs=[output], wires=wires)


def test_parallel_flow_node_merges_same_inputs_and_unions_outputs() -> None:
    a = single_tool_flow("a", [StringProperty("user")], StringProperty("info"))
    b = single_tool_flow("b", [StringProperty("user"), IntegerProperty("limit")], IntegerProperty("count"))
    c = single_tool_flow("c", [], DictProperty("extra", value_type=StringProperty("v")))
    node = ParallelFlowNode(name="pfn", subflows=[a, b, c])
    assert [p.title for p in node.inputs or []] == ["user", "limit"]
    assert [p.title for p in node.outputs or []] == ["info", "count", "extra"]
    assert node.branches == ["next"]
    assert ("25.4.2", "ParallelFlowNode") in node.feature_versions()


def test_parallel_flow_node_refuses_one_input_with_two_types() -> None:
    a = single_tool_flow("a", [StringProperty("user")], StringProperty("info"))
    b = single_tool_flow("b", [IntegerProperty("user")], IntegerProperty("count"))
    with pytest.raises(SpecError, match="subflows 'a_flow' and 'b_flow' both take input 'user' with different types"):
        ParallelFlowNode(name="pfn", subflows=[a, b])


def test_parallel_flow_node_refuses_one_output_from_two_subflows() -> None:
    a = single_tool_flow("a", [], StringProperty("info"))
    b = single_tool_flow("b", [], StringProperty("info"))
    with pytest.raises(SpecError, match="both produce output 'info'") as info:
        ParallelFlowNode(name="pfn", subflows=[a, b])
    assert "ParallelFlowNode 'pfn'" in str(info.value)


def test_parallel_flow_node_without_subflows_is_empty() -> None:
    node = ParallelFlowNode(name="pfn")
    assert node.subflows == [] and node.inputs == [] and node.outputs == []


def test_parallel_flow_node_accepts_given_inputs() -> None:
    a = single_tool_flow("a", [StringProperty("user")], StringProperty("info"))
    node = ParallelFlowNode(name="pfn", subflows=[a], inputs=[StringProperty("user", default="anon")])
    assert node.inputs and node.inputs[0].default == "anon"


# -- FlowNode / CatchExceptionNode branches ---------------------------------------------------------


def test_flow_node_branches_are_the_subflow_end_branch_names() -> None:
    node = FlowNode(name="fn", subflow=two_ends_flow("next", "failed"))
    assert node.branches == ["failed", "next"]


def with_defaults() -> Flow:
    t = tool("risky", [StringProperty("v")], [StringProperty("result", default="")])
    node = ToolNode(id="risky_node", name="risky_node", tool=t)
    return chain("risky_flow", [node], inputs=[StringProperty("v")],
                 outputs=[StringProperty("result", default="")],
                 wires=[("start", "v", node, "v"), (node, "result", "end", "result")])


def test_catch_exception_node_adds_the_exception_info_and_branch() -> None:
    node = CatchExceptionNode(name="catch", subflow=with_defaults())
    assert [p.title for p in node.inputs or []] == ["v"]
    assert schemas(node.outputs)[-1] == {
        "title": "caught_exception_info",
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }
    assert [p.title for p in node.outputs or []] == ["result", "caught_exception_info"]
    assert node.branches == ["caught_exception_branch", "next"]
    assert ("26.1.2", "CatchExceptionNode") in node.feature_versions()


def test_catch_exception_node_needs_a_default_for_every_output() -> None:
    sub = chain("plain", [], inputs=[StringProperty("v")], outputs=[StringProperty("v")])
    with pytest.raises(SpecError, match=r"outputs \['v'\] have no default"):
        CatchExceptionNode(name="catch", subflow=sub)


def test_catch_exception_node_given_outputs_must_keep_the_titles() -> None:
    sub = chain("plain", [], inputs=[StringProperty("v")], outputs=[StringProperty("v")])
    ok = CatchExceptionNode(
        name="catch",
        subflow=sub,
        outputs=[StringProperty("v", default=""), StringProperty("caught_exception_info", default=None)],
    )
    assert [p.default for p in ok.outputs or []] == ["", None]
    with pytest.raises(SpecError, match="outputs must be the subflow's outputs plus 'caught_exception_info'"):
        CatchExceptionNode(name="catch", subflow=sub, outputs=[StringProperty("v", default="")])


def test_catch_exception_node_reserved_names() -> None:
    with pytest.raises(SpecError, match="may not end with branch 'caught_exception_branch'"):
        CatchExceptionNode(name="catch", subflow=two_ends_flow("next", "caught_exception_branch"))
    sub = chain("s", [], outputs=[StringProperty("caught_exception_info", default=None)])
    with pytest.raises(SpecError, match="may not produce an output named 'caught_exception_info'"):
        CatchExceptionNode(name="catch", subflow=sub)


def test_numbers_keep_their_type_through_numeric_reducers() -> None:
    t = tool("score", [], [NumberProperty("score")])
    node = ToolNode(id="score_node", name="score_node", tool=t)
    sub = chain("score_flow", [node], outputs=[NumberProperty("score")],
                wires=[(node, "score", "end", "score")])
    mapped = MapNode(name="map", subflow=sub, reducers={"score": "average"})
    assert schemas(mapped.outputs) == [{"title": "collected_score", "type": "number"}]
