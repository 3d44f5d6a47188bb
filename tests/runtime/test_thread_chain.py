"""Consecutive sync tools share one hop to a worker thread (engine._Chain)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from loom.spec import ParallelFlowNode

from .conftest import linear_flow, prop, props, runtime, tool_node, tool_subflow


def counting_tools(record: list[tuple[str, int]]) -> dict[str, Any]:
    def step(x: int) -> int:
        record.append(("step", threading.get_ident()))
        return x + 1

    return {"step": step}


def chain_of(length: int) -> Any:
    nodes = [tool_node("step", [prop("x", "integer")], props(x="integer"), name=f"s{i}")
             for i in range(length)]
    return linear_flow("main", *nodes, inputs=props(x="integer"), outputs=props(x="integer"))


def test_a_stretch_of_sync_tools_runs_in_one_worker_thread() -> None:
    record: list[tuple[str, int]] = []
    result = runtime(counting_tools(record)).run(chain_of(20), {"x": 0})
    assert result.status == "finished" and result.outputs == {"x": 20}
    threads = {ident for _, ident in record}
    assert len(record) == 20 and len(threads) == 1
    assert threading.get_ident() not in threads  # never on the caller's thread


def test_with_a_listener_each_tool_is_its_own_step_with_events() -> None:
    record: list[tuple[str, int]] = []
    events: list[str] = []
    rt = runtime(counting_tools(record))
    rt.listeners.append(lambda event: events.append(event.type))
    result = rt.run(chain_of(5), {"x": 0})
    assert result.outputs == {"x": 5}
    assert events.count("tool_start") == 5 and events.count("tool_end") == 5


def test_a_failing_tool_in_a_stretch_names_its_node() -> None:
    def step(x: int) -> int:
        if x == 3:
            raise ValueError("three is not allowed")
        return x + 1

    result = runtime({"step": step}).run(chain_of(6), {"x": 0})
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > s3"
    assert "tool 'step' raised ValueError: three is not allowed" in result.error.message


def test_a_cancelled_stretch_stops_at_the_next_node() -> None:
    calls: list[int] = []

    def slow(x: int) -> int:
        calls.append(x)
        time.sleep(0.05)
        return x + 1

    def boom() -> int:
        time.sleep(0.08)
        raise RuntimeError("sibling failed")

    slow_chain = chain_of(10)
    failing = tool_subflow("failing", "boom", [], [prop("out", "integer")])
    parallel = ParallelFlowNode(name="pfn", subflows=[slow_chain, failing])
    flow = linear_flow("outer", parallel, inputs=props(x="integer"))
    result = runtime({"step": slow, "boom": boom}).run(flow, {"x": 0})
    assert result.status == "failed" and result.error is not None
    assert "sibling failed" in result.error.message
    time.sleep(0.2)  # the worker thread finishes the tool under way, then stops
    assert 1 <= len(calls) < 10


@pytest.mark.timeout(10)
def test_after_cancellation_the_stretch_starts_no_further_tool() -> None:
    # The first tool signals that it runs and holds until the run has failed; the
    # cancel flag is then set, so the thread must stop at the next node boundary:
    # exactly one call, never the chain's ten.
    calls: list[int] = []
    started, release, idle = threading.Event(), threading.Event(), threading.Event()

    def step(x: int) -> int:
        calls.append(x)
        started.set()
        release.wait(5)
        return x + 1

    def boom() -> int:
        started.wait(5)
        raise RuntimeError("sibling failed")

    def last(x: int) -> int:  # the node after the stretch: reached only if it went on
        idle.set()
        return x

    steps = [tool_node("step", [prop("x", "integer")], props(x="integer"), name=f"s{i}")
             for i in range(10)]
    slow_chain = linear_flow("chain", *steps, tool_node("last", [prop("x", "integer")],
                             props(x="integer")), inputs=props(x="integer"),
                             outputs=props(x="integer"))
    failing = tool_subflow("failing", "boom", [], [prop("out", "integer")])
    parallel = ParallelFlowNode(name="pfn", subflows=[slow_chain, failing])
    flow = linear_flow("outer", parallel, inputs=props(x="integer"))
    rt = runtime({"step": step, "boom": boom, "last": last})
    result = rt.run(flow, {"x": 0})
    assert result.status == "failed" and result.error is not None
    assert "sibling failed" in result.error.message
    assert calls == [0]  # the run failed while the first tool was still under way
    release.set()  # the tool under way finishes; a thread that went on reaches 'last' at once
    assert not idle.wait(0.3)
    assert calls == [0]


def test_one_runtime_serves_blocking_runs_from_several_threads_at_once() -> None:
    # Each thread's run() has its own event loop; all share the runtime's tool threads.
    rt = runtime({"step": lambda x: (time.sleep(0.001), x + 1)[1]})
    flow = chain_of(3)
    results: dict[int, list[Any]] = {}

    def caller(start: int) -> None:
        results[start] = [rt.run(flow, {"x": start + i}).outputs for i in range(20)]

    callers = [threading.Thread(target=caller, args=(100 * n,)) for n in range(4)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join(30)
    assert sorted(results) == [0, 100, 200, 300]
    for start, outputs in results.items():
        assert outputs == [{"x": start + i + 3} for i in range(20)]
