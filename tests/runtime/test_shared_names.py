"""Nodes (and parallel subflows) that share a name: the SDK accepts them (their ids
differ), so their run records, paths and trace rows must not merge.

Names stay the keys of flows whose names are unique (the checkpoint fixtures guard
that); the k-th node sharing a name runs as ``<name>@<k>``.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import loom
from loom.errors import LoomWarning
from loom.observability import SpanBuilder, SpanCollector
from loom.observability.timeline import timeline_rows
from loom.runtime.keys import step_names
from loom.spec import InputMessageNode, ParallelFlowNode

from .conftest import Spy, linear_flow, prop, props, runtime, tool_node, tool_subflow

# Loading a checkpoint of such a flow (on resume) warns again; the load test checks the text.
pytestmark = pytest.mark.filterwarnings("ignore:.*are named:loom.errors.LoomWarning")


def twins_flow(wiring: str = "edges") -> Any:
    """Two ToolNodes named "x" calling different tools, then a wait."""
    first = tool_node("double", props(n="integer"), props(doubled="integer"), name="x")
    second = tool_node("negate", props(n="integer"), props(negated="integer"), name="x")
    ask = InputMessageNode(name="ask", message="ok?", outputs=[prop("answer")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoomWarning)
        return linear_flow("main", first, second, ask, inputs=props(n="integer"),
                           outputs=props(doubled="integer", negated="integer", answer="string"),
                           wiring=wiring)


def test_step_names_keep_unique_names_and_number_the_later_holders_of_a_shared_one() -> None:
    assert step_names(["a", "b", "c"]) == ["a", "b", "c"]
    assert step_names(["x", "y", "x", "x"]) == ["x", "y", "x@2", "x@3"]
    # A node really named "x@2" keeps its name; the second "x" takes the next free one.
    assert step_names(["x", "x@2", "x"]) == ["x", "x@2", "x@3"]


def test_loading_a_flow_whose_nodes_share_a_name_warns_naming_the_flow_and_the_name() -> None:
    with pytest.warns(LoomWarning) as caught:
        flow = loom.loads(loom.dumps(twins_flow()))
    [note] = [str(w.message) for w in caught if "are named" in str(w.message)]
    assert note.startswith("Flow 'main'") and "2 nodes are named 'x'" in note and "x@2" in note
    ids = [node.id for node in flow.nodes if node.name == "x"]
    assert all(node_id in note for node_id in ids)


@pytest.mark.parametrize("path", ["chained", "async", "listener"])
def test_nodes_sharing_a_name_keep_their_own_results_in_a_run_and_on_resume(
    any_store_backend: Any, path: str
) -> None:
    double, negate = Spy(lambda n: 2 * n), Spy(lambda n: -n)
    if path == "async":
        async def adouble(n: int) -> int:
            return int(double(n=n))

        async def anegate(n: int) -> int:
            return int(negate(n=n))

        tools: dict[str, Any] = {"double": adouble, "negate": anegate}
    else:
        tools = {"double": double, "negate": negate}
    listeners = [SpanBuilder([SpanCollector()])] if path == "listener" else []
    flow = twins_flow()
    result = runtime(tools, store=any_store_backend.open(), listeners=listeners).run(
        flow, {"n": 5})
    assert result.status == "waiting", result.error
    assert double.calls == [{"n": 5}] and negate.calls == [{"n": 5}]

    resumed = runtime(tools, store=any_store_backend.open(), listeners=listeners).resume(
        result.run_id, {result.pending[0].id: "yes"})
    assert resumed.status == "finished", resumed.error
    assert resumed.outputs == {"doubled": 10, "negated": -5, "answer": "yes"}
    assert len(double.calls) == 1 and len(negate.calls) == 1  # both replayed, not re-run


def test_events_and_timeline_rows_tell_nodes_sharing_a_name_apart() -> None:
    collector = SpanCollector()
    tools = {"double": lambda n: 2 * n, "negate": lambda n: -n}
    result = runtime(tools, listeners=[SpanBuilder([collector])]).run(twins_flow(), {"n": 5})
    assert result.status == "waiting"
    nodes = [s for s in collector.spans if s.type == "NodeExecutionSpan"]
    assert [(s.path, s.step) for s in nodes] == [
        (("main", "x"), "main>x#1"), (("main", "x@2"), "main>x@2#1"),
        (("main", "ask"), "main>ask#1")]
    assert [row.label for row in timeline_rows(collector.spans)] == ["x", "x@2", "ask"]


def test_parallel_subflows_sharing_a_name_keep_their_own_results(any_store_backend: Any
                                                                 ) -> None:
    double, negate = Spy(lambda n: 2 * n), Spy(lambda n: -n)
    tools = {"double": double, "negate": negate}
    fan = ParallelFlowNode(name="fan", subflows=[
        tool_subflow("branch", "double", props(n="integer"), props(doubled="integer"),
                     node_name="step"),
        tool_subflow("branch", "negate", props(n="integer"), props(negated="integer"),
                     node_name="step"),
    ])
    ask = InputMessageNode(name="ask", message="ok?", outputs=[prop("answer")])
    flow = linear_flow("main", fan, ask, inputs=props(n="integer"),
                       outputs=props(doubled="integer", negated="integer", answer="string"))
    result = runtime(tools, store=any_store_backend.open()).run(flow, {"n": 3})
    assert result.status == "waiting", result.error
    resumed = runtime(tools, store=any_store_backend.open()).resume(
        result.run_id, {result.pending[0].id: "yes"})
    assert resumed.outputs == {"doubled": 6, "negated": -3, "answer": "yes"}
    assert len(double.calls) == 1 and len(negate.calls) == 1
