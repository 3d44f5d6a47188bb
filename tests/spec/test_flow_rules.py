"""Structural rules of a flow (AGENTSPEC 4.3-4.7), built with the Python API."""

from __future__ import annotations

import warnings

import pytest

from loom.errors import LoomWarning, SpecError
from loom.spec import (
    BranchingNode,
    ControlFlowEdge,
    DataFlowEdge,
    EndNode,
    Flow,
    LlmNode,
    OutputMessageNode,
    StartNode,
    ToolNode,
)
from loom.spec.property import IntegerProperty, ObjectProperty, StringProperty

from ._build import control, data, llm_config, tool


def nodes3() -> tuple[StartNode, ToolNode, EndNode]:
    start = StartNode(id="s", name="start", inputs=[StringProperty("q")])
    work = ToolNode(id="t", name="work", tool=tool("search", [StringProperty("q")], [IntegerProperty("hits")]))
    end = EndNode(id="e", name="end", inputs=[IntegerProperty("hits")])
    return start, work, end


def flow_of(start, nodes, edges, wires=None, **kw) -> Flow:  # type: ignore[no-untyped-def]
    return Flow(name="f", start_node=start, nodes=nodes, control_flow_connections=edges,
                data_flow_connections=wires, **kw)


def test_a_valid_flow() -> None:
    start, work, end = nodes3()
    flow = flow_of(start, [start, work, end], control((start, work), (work, end)),
                   data((start, "q", work, "q"), (work, "hits", end, "hits")))
    assert [p.title for p in flow.inputs or []] == ["q"]
    assert [p.title for p in flow.outputs or []] == ["hits"]


def test_nodes_listed_twice_are_kept_once() -> None:
    start, work, end = nodes3()
    flow = flow_of(start, [start, work, work, end], control((start, work), (work, end)))
    assert [n.name for n in flow.nodes] == ["start", "work", "end"]


def test_exactly_one_start_node() -> None:
    start, work, end = nodes3()
    other = StartNode(id="s2", name="start2", inputs=[StringProperty("q")])
    with pytest.raises(SpecError, match="exactly one StartNode in 'nodes', found 2"):
        flow_of(start, [start, other, work, end], control((start, work), (work, end)))
    with pytest.raises(SpecError, match="found 0"):
        flow_of(start, [work, end], control((work, end)))


def test_start_node_must_be_the_listed_start_node() -> None:
    start, work, end = nodes3()
    other = StartNode(id="s2", name="start2", inputs=[StringProperty("q")])
    with pytest.raises(SpecError, match="'start_node' must be the flow's StartNode 'start'"):
        flow_of(other, [start, work, end], control((start, work), (work, end)))


def test_start_node_has_one_outgoing_edge_and_no_incoming_one() -> None:
    start, work, end = nodes3()
    with pytest.raises(SpecError, match="needs exactly one outgoing control edge"):
        flow_of(start, [start, work, end], control((work, end)))
    with pytest.raises(SpecError, match="cannot have an incoming control edge"):
        flow_of(start, [start, work, end], control((start, work), (work, start), (work, end, "x")))


def test_end_nodes_are_needed_reached_and_final() -> None:
    start, work, end = nodes3()
    with pytest.raises(SpecError, match="a flow needs at least one EndNode"):
        flow_of(start, [start, work], control((start, work)))
    lonely = EndNode(id="e2", name="lonely", inputs=[IntegerProperty("hits")])
    with pytest.raises(SpecError, match="EndNode 'lonely' is never reached"):
        flow_of(start, [start, work, end, lonely], control((start, work), (work, end)))
    with pytest.raises(SpecError, match="EndNode 'end' cannot have an outgoing control edge"):
        flow_of(start, [start, work, end], control((start, work), (work, end), (end, work)))


def test_control_edges_stay_inside_the_flow() -> None:
    start, work, end = nodes3()
    stranger = EndNode(id="x", name="stranger")
    with pytest.raises(SpecError, match="to_node EndNode 'stranger' is not a node of flow 'f'") as info:
        flow_of(start, [start, work, end], control((start, work), (work, end), (work, stranger, "other")))
    assert "ControlFlowEdge 'work->stranger[other]'" in str(info.value)


def test_control_edges_use_existing_branches_once() -> None:
    start, work, end = nodes3()
    with pytest.raises(SpecError, match="ToolNode 'work' has no branch 'maybe'"):
        flow_of(start, [start, work, end], control((start, work), (work, end, "maybe")))
    end2 = EndNode(id="e2", name="end2", inputs=[IntegerProperty("hits")])
    # The SDK does not check it: loom warns and follows the first edge.
    with pytest.warns(LoomWarning, match="ToolNode 'work' has two control edges for branch 'next'"):
        flow_of(start, [start, work, end, end2], control((start, work), (work, end), (work, end2)))


def test_data_edges_stay_inside_the_flow() -> None:
    start, work, end = nodes3()
    outsider = ToolNode(id="o", name="outsider", tool=tool("o", [], [IntegerProperty("hits")]))
    with pytest.raises(SpecError, match="source_node ToolNode 'outsider' is not a node of flow 'f'"):
        flow_of(start, [start, work, end], control((start, work), (work, end)),
                data((start, "q", work, "q"), (outsider, "hits", end, "hits")))


def test_data_edges_name_existing_outputs_and_inputs() -> None:
    start, work, end = nodes3()
    with pytest.raises(SpecError, match=r"ToolNode 'work' has no output 'count'.*outputs are \['hits'\]"):
        flow_of(start, [start, work, end], control((start, work), (work, end)),
                data((start, "q", work, "q"), (work, "count", end, "hits")))
    with pytest.raises(SpecError, match=r"ToolNode 'work' has no input 'query'.*inputs are \['q'\]"):
        flow_of(start, [start, work, end], control((start, work), (work, end)),
                data((start, "q", work, "query"), (work, "hits", end, "hits")))


def test_data_edges_need_castable_types() -> None:
    start = StartNode(id="s", name="start", inputs=[StringProperty("q")])
    work = ToolNode(id="t", name="work", tool=tool("count", [IntegerProperty("n")], []))
    end = EndNode(id="e", name="end")
    with pytest.raises(SpecError) as info:
        flow_of(start, [start, work, end], control((start, work), (work, end)),
                data((start, "q", work, "n")))
    text = str(info.value)
    assert "DataFlowEdge 'start.q->work.n'" in text
    assert "output 'q' of StartNode 'start' (string) cannot feed input 'n' of ToolNode 'work' (integer)" in text


def test_every_input_needs_a_producer_or_a_default() -> None:
    start, work, end = nodes3()
    with pytest.raises(SpecError) as info:
        flow_of(start, [start, work, end], control((start, work), (work, end)),
                data((work, "hits", end, "hits")))
    text = str(info.value)
    assert text.startswith(
        "ToolNode 'work' (id t): input 'q' is fed by no data edge of flow 'f' and has no default"
    )
    assert "output 'q' of StartNode 'start' is read by nothing" in text  # the likely fix


def test_an_empty_edge_list_is_not_name_based_wiring() -> None:
    start, work, end = nodes3()
    # null: wired by names, fine
    flow_of(start, [start, work, end], control((start, work), (work, end)), None)
    # []: no wiring at all, so 'q' never arrives
    with pytest.raises(SpecError, match="ToolNode 'work' .*input 'q' is fed by no data edge"):
        flow_of(start, [start, work, end], control((start, work), (work, end)), [])


def test_an_unfed_input_without_an_obvious_fix_is_a_warning() -> None:
    # The SDK accepts such flows; a run that reaches the node fails there.
    start = StartNode(id="s", name="start", inputs=[StringProperty("query")])
    work = ToolNode(id="t", name="work", tool=tool("search", [IntegerProperty("q")], []))
    end = EndNode(id="e", name="end")
    with pytest.warns(LoomWarning, match="input 'q' of ToolNode 'work' is fed by no data edge"):
        flow_of(start, [start, work, end], control((start, work), (work, end)), None)


def test_an_unfed_input_with_a_default_is_fine() -> None:
    start = StartNode(id="s", name="start")
    say = OutputMessageNode(id="o", name="say", message="{{ text }}", inputs=[StringProperty("text", default="hi")])
    end = EndNode(id="e", name="end")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flow = flow_of(start, [start, say, end], control((start, say), (say, end)), [])
    assert [str(w.message) for w in caught] == []  # neither an error nor a warning
    assert flow.data_flow_connections == [] and flow.inputs == [] and flow.outputs == []


def test_the_fix_hint_names_the_output_of_the_previous_node() -> None:
    start = StartNode(id="s", name="start")
    llm = LlmNode(id="l", name="writer", llm_config=llm_config(), prompt_template="Write")
    say = OutputMessageNode(id="o", name="say", message="{{output}}")
    end = EndNode(id="e", name="end")
    with pytest.raises(SpecError) as info:
        flow_of(start, [start, llm, say, end], control((start, llm), (llm, say), (say, end)), [])
    text = str(info.value)
    assert text.startswith("OutputMessageNode 'say' (id o): input 'output' is fed by no data edge")
    assert "output 'generated_text' of LlmNode 'writer'" in text


def test_end_nodes_share_output_types() -> None:
    start = StartNode(id="s", name="start", inputs=[StringProperty("v")])
    router = BranchingNode(id="b", name="router", mapping={"a": "a"}, inputs=[StringProperty("v")])
    end_a = EndNode(id="ea", name="end_a", inputs=[StringProperty("v")], branch_name="a")
    end_b = EndNode(id="eb", name="end_b", inputs=[IntegerProperty("v", default=0)])
    with pytest.raises(SpecError, match="EndNodes 'end_a' and 'end_b' give output 'v' different types"):
        flow_of(start, [start, router, end_a, end_b],
                control((start, router), (router, end_a, "a"), (router, end_b, "default")),
                data((start, "v", router, "v"), (start, "v", end_a, "v")))


def test_flow_outputs_are_the_titles_common_to_every_end_node() -> None:
    start = StartNode(id="s", name="start", inputs=[StringProperty("v")])
    router = BranchingNode(id="b", name="router", mapping={"a": "a"}, inputs=[StringProperty("v")])
    end_a = EndNode(id="ea", name="end_a", inputs=[StringProperty("v"), StringProperty("w", default="")], branch_name="a")
    end_b = EndNode(id="eb", name="end_b", inputs=[StringProperty("v")])
    edges = control((start, router), (router, end_a, "a"), (router, end_b, "default"))
    flow = flow_of(start, [start, router, end_a, end_b], edges)
    assert [p.title for p in flow.outputs or []] == ["v"]
    assert flow.branch_names == ["a", "next"]
    # a declared output missing from an EndNode needs a flow-level default
    with pytest.raises(SpecError, match="flow output 'w' is not produced by EndNode 'end_b' and has no default"):
        flow_of(start, [start, router, end_a, end_b], edges,
                outputs=[StringProperty("v"), StringProperty("w")])
    flow_of(start, [start, router, end_a, end_b], edges,
            outputs=[StringProperty("v"), StringProperty("w", default="none")])


def test_declared_flow_output_must_have_the_end_node_type() -> None:
    start = StartNode(id="s", name="start", inputs=[StringProperty("v")])
    end = EndNode(id="e", name="end", inputs=[StringProperty("v")])
    with pytest.raises(SpecError, match="flow output 'v' has another type in EndNode 'end'"):
        flow_of(start, [start, end], control((start, end)),
                outputs=[ObjectProperty("v", properties={})])


def test_warnings_for_unwired_branches() -> None:
    start = StartNode(id="s", name="start", inputs=[StringProperty("v")])
    router = BranchingNode(id="b", name="router", mapping={"yes": "yes"}, inputs=[StringProperty("v")])
    end = EndNode(id="e", name="end")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flow_of(start, [start, router, end], control((start, router), (router, end, "yes")))
    messages = [str(w.message) for w in caught if issubclass(w.category, LoomWarning)]
    assert any("branch 'default' of BranchingNode 'router' has no control edge" in m for m in messages)


def test_null_branch_on_a_branching_node_reads_as_default_with_a_warning() -> None:
    start = StartNode(id="s", name="start", inputs=[StringProperty("v")])
    router = BranchingNode(id="b", name="router", mapping={"yes": "yes"}, inputs=[StringProperty("v")])
    end = EndNode(id="e", name="end")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flow_of(start, [start, router, end], control((start, router), (router, end, "yes"), (router, end)))
    messages = [str(w.message) for w in caught]
    assert any("from_branch null on BranchingNode 'router', which has no 'next' branch: read as 'default'" in m
               for m in messages)


def test_self_loops_are_legal_data_edges() -> None:
    start = StartNode(id="s", name="start")
    count = ToolNode(id="c", name="count",
                     tool=tool("inc", [IntegerProperty("n", default=0)], [IntegerProperty("n")]))
    router = BranchingNode(id="b", name="router", mapping={"3": "done"}, inputs=[IntegerProperty("n")])
    end = EndNode(id="e", name="end", inputs=[IntegerProperty("n")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flow = Flow(
            name="loop", start_node=start, nodes=[start, count, router, end],
            control_flow_connections=control((start, count), (count, router),
                                             (router, count, "default"), (router, end, "done")),
            data_flow_connections=[
                *data((count, "n", count, "n"), (count, "n", router, "n"), (count, "n", end, "n")),
            ],
        )
    assert [str(w.message) for w in caught] == []
    wires = [(w.source_node.name, w.source_output, w.destination_node.name, w.destination_input)
             for w in flow.data_flow_connections or []]
    assert wires[0] == ("count", "n", "count", "n")  # kept, not dropped as a cycle
    assert len(wires) == 3
    assert [p.title for p in flow.outputs or []] == ["n"]
    assert flow.branch_names == ["next"]


def test_edges_are_components_with_names() -> None:
    start, work, end = nodes3()
    edge = ControlFlowEdge(name="c", from_node=start, to_node=work)
    assert edge.from_branch is None and edge.id
    wire = DataFlowEdge(name="d", source_node=start, source_output="q", destination_node=work,
                        destination_input="q")
    assert wire.component_type == "DataFlowEdge"
