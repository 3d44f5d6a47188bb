"""MapNode and ParallelMapNode: iteration, broadcast, reducers, order, failures."""

from __future__ import annotations

from typing import Any

import pytest

from loom.spec import EndNode, MapNode, ParallelMapNode, StartNode

from .conftest import Recorder, Spy, limits, linear_flow, make_flow, prop, runtime, tool_subflow

INTS = {"type": "array", "items": {"type": "integer"}}


def scale_subflow(kind: str = "integer") -> Any:
    """value * factor -> (scaled: kind, text: string)."""
    return tool_subflow("scale", "scale", [prop("value", "integer"), prop("factor", "integer")],
                        [prop("scaled", kind), prop("text")])


def scale(value: int, factor: int) -> dict[str, Any]:
    return {"scaled": value * factor, "text": f"{value}x{factor}"}


def map_flow(node_cls: type[MapNode] = MapNode, reducers: dict[str, str] | None = None,
             kind: str = "integer", **extra: Any) -> Any:
    node = node_cls(name="each", subflow=scale_subflow(kind), reducers=reducers, **extra)
    return linear_flow("main", node, inputs=[prop("iterated_value", INTS),
                                             prop("iterated_factor", "integer")],
                       outputs=node.outputs or [])


def test_map_node_iterates_a_list_and_broadcasts_a_single_value() -> None:
    calls: list[tuple[int, int]] = []

    def tool(value: int, factor: int) -> dict[str, Any]:
        calls.append((value, factor))
        return scale(value, factor)

    result = runtime({"scale": tool}).run(map_flow(), {"iterated_value": [1, 2, 3],
                                                      "iterated_factor": 10})
    assert result.status == "finished", result.error
    # reducers=None: every subflow output is appended, in input order.
    assert result.outputs == {"collected_scaled": [10, 20, 30],
                              "collected_text": ["1x10", "2x10", "3x10"]}
    assert calls == [(1, 10), (2, 10), (3, 10)]  # MapNode is sequential, in order


@pytest.mark.parametrize(
    ("method", "kind", "expected"),
    [
        ("append", "integer", [2, 8, 6]),
        ("sum", "integer", 16),
        ("max", "integer", 8),
        ("min", "integer", 2),
        ("average", "number", 16 / 3),
    ],
)
def test_every_reducer(method: str, kind: str, expected: Any) -> None:
    flow = map_flow(reducers={"scaled": method}, kind=kind)
    assert [p.title for p in flow.outputs] == ["collected_scaled"]
    result = runtime({"scale": scale}).run(flow, {"iterated_value": [1, 4, 3],
                                                  "iterated_factor": 2})
    assert result.status == "finished", result.error
    assert result.outputs["collected_scaled"] == pytest.approx(expected)


# Duplicates (a reducer over distinct values differs) and the extreme at the end,
# then at the start (a reducer skipping the last or the first item differs).
REDUCER_DATA = {
    "extreme-last": ([2, 5, 2, 5, 1, 9], {"sum": 24, "average": 4.0, "max": 9, "min": 1}),
    "extreme-first": ([9, 4, 0, 4, 4, 1], {"sum": 22, "average": 22 / 6, "max": 9, "min": 0}),
    "min-first": ([-3, 7, 7, 2], {"sum": 13, "average": 3.25, "max": 7, "min": -3}),
    "min-last": ([6, 8, 8, 6, -1], {"sum": 27, "average": 5.4, "max": 8, "min": -1}),
}


@pytest.mark.parametrize("data", list(REDUCER_DATA))
@pytest.mark.parametrize("node_cls", [MapNode, ParallelMapNode])
def test_every_reducer_over_duplicates_and_extremes_at_either_end(
    data: str, node_cls: type[MapNode]
) -> None:
    values, expected = REDUCER_DATA[data]
    methods = ["append", "sum", "average", "max", "min"]
    results = {}
    for method in methods:
        flow = map_flow(node_cls, reducers={"scaled": method},
                        kind="number" if method == "average" else "integer")
        result = runtime({"scale": scale}).run(flow, {"iterated_value": values,
                                                      "iterated_factor": 1})
        assert result.status == "finished", result.error
        results[method] = result.outputs["collected_scaled"]
    assert results == {"append": values, **expected}  # append keeps every item, in order
    assert type(results["sum"]) is int


def test_sum_keeps_integers_integral() -> None:
    result = runtime({"scale": scale}).run(map_flow(reducers={"scaled": "sum"}),
                                           {"iterated_value": [1, 2], "iterated_factor": 1})
    assert result.outputs == {"collected_scaled": 3}
    assert isinstance(result.outputs["collected_scaled"], int)


@pytest.mark.parametrize(("method", "expected"), [("append", []), ("sum", 0)])
@pytest.mark.parametrize("node_cls", [MapNode, ParallelMapNode])
def test_empty_list_gives_empty_append_and_zero_sum(
    method: str, expected: Any, node_cls: type[MapNode]
) -> None:
    spy = Spy(scale)
    rt = runtime({"scale": spy})
    result = rt.run(map_flow(node_cls, reducers={"scaled": method}),
                    {"iterated_value": [], "iterated_factor": 2})
    assert result.status == "finished", result.error
    assert result.outputs == {"collected_scaled": expected}
    assert spy.calls == []


@pytest.mark.parametrize("method", ["average", "max", "min"])
@pytest.mark.parametrize("node_cls", [MapNode, ParallelMapNode])
def test_empty_list_with_a_numeric_reducer_fails_clearly(
    method: str, node_cls: type[MapNode]
) -> None:
    flow = map_flow(node_cls, reducers={"scaled": method}, kind="number")
    result = runtime({"scale": scale}).run(flow, {"iterated_value": [], "iterated_factor": 2})
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > each"
    assert f"cannot take the {method} of 'scaled' over zero items" in result.error.message


def test_iterated_lists_of_unequal_length_fail() -> None:
    sub = tool_subflow("pair", "pair", [prop("a", "integer"), prop("b", "integer")],
                       [prop("s", "integer")])
    node = MapNode(name="each", subflow=sub)
    flow = linear_flow("main", node, inputs=[prop("iterated_a", INTS), prop("iterated_b", INTS)],
                       outputs=node.outputs or [])
    spy = Spy(lambda a, b: a + b)
    rt = runtime({"pair": spy})
    ok = rt.run(flow, {"iterated_a": [1, 2], "iterated_b": [10, 20]})
    assert ok.outputs == {"collected_s": [11, 22]}
    spy.calls.clear()
    bad = rt.run(flow, {"iterated_a": [1, 2, 3], "iterated_b": [10, 20]})
    assert bad.status == "failed" and bad.error is not None
    assert bad.error.node == "main > each"
    assert "iterated inputs have different lengths {'a': 3, 'b': 2}" in bad.error.message
    assert spy.calls == []


def test_map_node_without_any_list_input_fails() -> None:
    node = MapNode(name="each", subflow=scale_subflow("integer"))
    untyped = [prop("iterated_value", {}), prop("iterated_factor", "integer")]
    flow = linear_flow("main", node, inputs=untyped, outputs=node.outputs or [])
    result = runtime({"scale": scale}).run(flow, {"iterated_value": 3, "iterated_factor": 2})
    assert result.status == "failed" and result.error is not None
    assert "needs at least one input connected to a list" in result.error.message


def test_list_typed_inner_input_is_broadcast_unless_given_a_list_of_lists() -> None:
    sub = tool_subflow("total", "total", [prop("xs", INTS), prop("k", "integer")],
                       [prop("t", "integer")])
    node = MapNode(name="each", subflow=sub)
    flow = linear_flow("main", node,
                       inputs=[prop("iterated_xs", {"type": "array"}),
                               prop("iterated_k", {"type": "array"})],
                       outputs=node.outputs or [])
    rt = runtime({"total": lambda xs, k: sum(xs) * k})
    # A list of lists iterates; a flat list of the inner (array) type is broadcast.
    assert rt.run(flow, {"iterated_xs": [[1, 2], [3]], "iterated_k": [1, 10]}).outputs == {
        "collected_t": [3, 30]}
    assert rt.run(flow, {"iterated_xs": [1, 2], "iterated_k": [1, 10]}).outputs == {
        "collected_t": [3, 30]}


def test_map_iteration_failure_names_the_iteration() -> None:
    def scale_or_fail(value: int, factor: int) -> dict[str, Any]:
        if value == 2:
            raise RuntimeError("two is not allowed")
        return scale(value, factor)

    result = runtime({"scale": scale_or_fail}).run(
        map_flow(), {"iterated_value": [1, 2, 3], "iterated_factor": 1})
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > each > scale[1] > scale_step"
    assert "tool 'scale' raised RuntimeError: two is not allowed" in result.error.message


def test_explicit_edges_feed_a_map_node_from_a_list_output() -> None:
    start = StartNode(name="start", inputs=[prop("values", INTS), prop("factor", "integer")])
    node = MapNode(name="each", subflow=scale_subflow(), reducers={"scaled": "sum"})
    end = EndNode(name="end", inputs=[prop("collected_scaled", "integer")])
    flow = make_flow("main", [start, node, end], [(start, node), (node, end)],
                     [(start, "values", node, "iterated_value"),
                      (start, "factor", node, "iterated_factor"),
                      (node, "collected_scaled", end, "collected_scaled")])
    result = runtime({"scale": scale}).run(flow, {"values": [1, 2, 3], "factor": 3})
    assert result.outputs == {"collected_scaled": 18}


# --- ParallelMapNode -----------------------------------------------------------------


def test_parallel_map_keeps_input_order_when_later_items_finish_first() -> None:
    rec = Recorder()
    # Item k sleeps (5 - k) * 30 ms: the last item finishes first.
    tool = rec.async_tool("scale", result=scale)

    async def slow_first(value: int, factor: int) -> dict[str, Any]:
        import asyncio

        await asyncio.sleep((5 - value) * 0.03)
        return await tool(value=value, factor=factor)

    result = runtime({"scale": slow_first}).run(
        map_flow(ParallelMapNode), {"iterated_value": [1, 2, 3, 4], "iterated_factor": 10})
    assert result.status == "finished", result.error
    assert [s.args["value"] for s in sorted(rec.spans, key=lambda s: s.end or 0)] == [4, 3, 2, 1]
    assert result.outputs == {"collected_scaled": [10, 20, 30, 40],
                              "collected_text": ["1x10", "2x10", "3x10", "4x10"]}


def test_parallel_map_runs_iterations_concurrently_within_its_limit() -> None:
    rec = Recorder()
    flow = map_flow(ParallelMapNode, reducers={"scaled": "sum"},
                    metadata=limits(max_concurrency=3))
    result = runtime({"scale": rec.sync_tool("scale", 0.05, scale)}).run(
        flow, {"iterated_value": list(range(9)), "iterated_factor": 1})
    assert result.outputs == {"collected_scaled": 36}
    assert rec.max_in_flight == 3


def test_parallel_map_failure_names_the_failed_iteration() -> None:
    def scale_or_fail(value: int, factor: int) -> dict[str, Any]:
        if value == 3:
            raise KeyError("three")
        return scale(value, factor)

    result = runtime({"scale": scale_or_fail}).run(
        map_flow(ParallelMapNode), {"iterated_value": [1, 2, 3], "iterated_factor": 1})
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > each > scale[2] > scale_step"
    assert "tool 'scale' raised KeyError: 'three'" in result.error.message
