"""Parallel branches: overlap, limits, nesting, cancellation, timeouts, order, the loop.

Assertions use the start/end times the tools record, never the run's duration.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from loom.errors import BranchTimeout
from loom.runtime.context import Run, RunContext
from loom.spec import (
    CatchExceptionNode,
    EndNode,
    FlowNode,
    MapNode,
    ParallelFlowNode,
    ParallelMapNode,
    StartNode,
)

from .conftest import (
    Recorder,
    limits,
    linear_flow,
    make_flow,
    prop,
    props,
    runtime,
    tool_subflow,
)

SEED_TOOLS = {
    # tool name: (inputs, output)
    "get_current_time": ([], prop("current_time")),
    "get_user_information": (props(username="string"), prop("user_info", "object")),
    "get_user_last_purchases": (props(username="string"), prop("user_purchases", "array")),
    "get_items_on_sale": ([], prop("items_on_sale", "array")),
}


def seed_flow(**fan_options: Any) -> Any:
    """The howto_parallelflownode shape: four one-tool subflows sharing 'username'."""
    subflows = [tool_subflow(f"{name}_flow", name, inputs, [output],
                             node_name=f"{name}_step")
                for name, (inputs, output) in SEED_TOOLS.items()]
    fan = ParallelFlowNode(name="parallel_flow_node", subflows=subflows, **fan_options)
    return linear_flow("marketing_message_flow", fan, inputs=props(username="string"),
                       outputs=fan.outputs or [])


def seed_tools(rec: Recorder, delay: float = 0.1, kind: str = "sync") -> dict[str, Any]:
    make = rec.sync_tool if kind == "sync" else rec.async_tool
    return {
        "get_current_time": make("get_current_time", delay, "09:30"),
        "get_user_information": make("get_user_information", delay,
                                     lambda username: {"name": username.title()}),
        "get_user_last_purchases": make("get_user_last_purchases", delay, [{"item": "tent"}]),
        "get_items_on_sale": make("get_items_on_sale", delay, [{"item": "kayak"}]),
    }


def fan_of(n: int, tool: str = "work", **fan_options: Any) -> Any:
    subflows = [tool_subflow(f"sub_{i}", tool, [], [prop(f"out_{i}", "integer")],
                             node_name=f"step_{i}") for i in range(n)]
    fan = ParallelFlowNode(name="fan", subflows=subflows, **fan_options)
    return linear_flow("main", fan, outputs=fan.outputs or [])


def overlap(spans: list[Any]) -> bool:
    return max(s.start for s in spans) < min(s.end for s in spans)


# --- overlap -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_four_seed_tools_run_at_the_same_time(kind: str) -> None:
    rec = Recorder()
    result = runtime(seed_tools(rec, 0.1, kind)).run(seed_flow(), {"username": "ada"})
    assert result.status == "finished", result.error
    assert result.outputs == {
        "current_time": "09:30",
        "user_info": {"name": "Ada"},
        "user_purchases": [{"item": "tent"}],
        "items_on_sale": [{"item": "kayak"}],
    }
    assert len(rec.spans) == 4
    assert overlap(rec.spans)
    assert rec.max_in_flight == 4


# --- limits --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_node_limit_of_two_never_lets_a_third_branch_in(kind: str) -> None:
    rec = Recorder()
    make = rec.sync_tool if kind == "sync" else rec.async_tool
    flow = fan_of(6, metadata=limits(max_concurrency=2))
    result = runtime({"work": make("work", 0.05, 1)}).run(flow)
    assert result.outputs == {f"out_{i}": 1 for i in range(6)}
    assert len(rec.spans) == 6
    assert rec.max_in_flight == 2


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_global_limit_of_two_never_lets_a_third_branch_in(kind: str) -> None:
    rec = Recorder()
    make = rec.sync_tool if kind == "sync" else rec.async_tool
    result = runtime({"work": make("work", 0.05, 1)}, max_concurrency=2).run(fan_of(6))
    assert result.status == "finished", result.error
    assert len(rec.spans) == 6
    assert rec.max_in_flight == 2


def nested_fan(inner_options: dict[str, Any], outer_options: dict[str, Any],
               via_flow_node: bool = False) -> Any:
    """An outer ParallelFlowNode of two branches, each running an inner one of two."""
    branches = []
    for b in range(2):
        inner_subs = [tool_subflow(f"leaf_{b}{i}", "work", [], [prop(f"out_{b}{i}", "integer")])
                      for i in range(2)]
        inner = ParallelFlowNode(name=f"inner_{b}", subflows=inner_subs, **inner_options)
        branch = linear_flow(f"branch_{b}", inner, outputs=inner.outputs or [])
        if via_flow_node:
            call = FlowNode(name=f"call_{b}", subflow=branch)
            branch = linear_flow(f"wrapper_{b}", call, outputs=call.outputs or [])
        branches.append(branch)
    outer = ParallelFlowNode(name="outer", subflows=branches, **outer_options)
    return linear_flow("main", outer, outputs=outer.outputs or [])


EXPECTED_NESTED = {f"out_{b}{i}": 1 for b in range(2) for i in range(2)}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("via_flow_node", [False, True], ids=["direct", "via-flow-node"])
def test_nested_parallel_nodes_with_global_limit_one_do_not_deadlock(
    kind: str, via_flow_node: bool
) -> None:
    rec = Recorder()
    make = rec.sync_tool if kind == "sync" else rec.async_tool
    rt = runtime({"work": make("work", 0.02, 1)}, max_concurrency=1)
    result = rt.run(nested_fan({}, {}, via_flow_node))
    assert result.status == "finished", result.error
    assert result.outputs == EXPECTED_NESTED
    assert rec.max_in_flight == 1


@pytest.mark.timeout(10)
@pytest.mark.parametrize("via_flow_node", [False, True], ids=["direct", "via-flow-node"])
def test_nested_parallel_nodes_with_node_limits_one_do_not_deadlock(via_flow_node: bool) -> None:
    rec = Recorder()
    one = {"metadata": limits(max_concurrency=1)}
    rt = runtime({"work": rec.async_tool("work", 0.02, 1)})
    result = rt.run(nested_fan(one, one, via_flow_node))
    assert result.status == "finished", result.error
    assert result.outputs == EXPECTED_NESTED
    # each inner node runs one leaf at a time; the two outer branches may overlap
    assert rec.max_in_flight == 1


@pytest.mark.timeout(10)
def test_parallel_map_inside_parallel_branches_with_global_limit_one() -> None:
    rec = Recorder()
    branches = []
    for b in range(2):
        each = ParallelMapNode(name=f"each_{b}", subflow=tool_subflow(
            f"square_{b}", "square", [prop("x", "integer")], [prop("y", "integer")]),
            reducers={"y": "sum"})
        catch = CatchExceptionNode(name=f"guard_{b}", subflow=linear_flow(
            f"guarded_{b}", each, inputs=[prop("iterated_x", {"type": "array"})],
            outputs=[prop("collected_y", "integer", default=0)]))
        start = StartNode(name="start", inputs=[prop("iterated_x", {"type": "array"})])
        # only the first branch exposes its sum: merged output titles must be unique
        end = EndNode(name="end", inputs=[prop("collected_y", "integer")] if b == 0 else [])
        branches.append(make_flow(f"branch_{b}", [start, catch, end],
                                  [(start, catch), (catch, end, "next"),
                                   (catch, end, "caught_exception_branch")]))
    outer = ParallelFlowNode(name="outer", subflows=branches)
    flow = linear_flow("main", outer, inputs=[prop("iterated_x", {"type": "array"})],
                       outputs=[prop("collected_y", "integer")])
    rt = runtime({"square": rec.async_tool("square", 0.01, lambda x: x * x)}, max_concurrency=1)
    result = rt.run(flow, {"iterated_x": [1, 2, 3]})
    assert result.status == "finished", result.error
    assert result.outputs == {"collected_y": 14}
    assert len(rec.spans) == 6 and rec.max_in_flight == 1


async def test_global_limit_applies_across_concurrent_runs() -> None:
    rec = Recorder()
    rt = runtime({"work": rec.async_tool("work", 0.03, 1)}, max_concurrency=2)
    flow = fan_of(3)
    results = await asyncio.gather(*(rt.arun(flow) for _ in range(3)))
    assert [r.status for r in results] == ["finished"] * 3
    assert len(rec.spans) == 9
    assert rec.max_in_flight == 2


async def test_concurrent_runs_of_one_flow_keep_their_own_values() -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0.01 * (5 - x))
        return x * 2

    sub = tool_subflow("dbl", "double", props(x="integer"), props(y="integer"))
    fan = ParallelFlowNode(name="fan", subflows=[sub])
    flow = linear_flow("main", fan, inputs=props(x="integer"), outputs=props(y="integer"))
    rt = runtime({"double": double})
    results = await asyncio.gather(*(rt.arun(flow, {"x": x}) for x in range(5)))
    assert [r.outputs for r in results] == [{"y": x * 2} for x in range(5)]


# --- failures and timeouts -----------------------------------------------------------


def failing_fan(**fan_options: Any) -> Any:
    subs = [
        tool_subflow("sub_slow", "slow", [], [prop("slow_out", "integer")], node_name="wait"),
        tool_subflow("sub_x", "fail", [], [prop("x_out", "integer")], node_name="node"),
        tool_subflow("sub_fast", "fast", [], [prop("fast_out", "integer")], node_name="quick"),
    ]
    return ParallelFlowNode(name="pfn", subflows=subs, **fan_options)


def fail_after(delay: float) -> Any:
    def fail() -> int:
        time.sleep(delay)
        raise ConnectionError("backend unreachable")

    return fail


@pytest.mark.timeout(5)
def test_a_failing_branch_cancels_a_slow_async_sibling() -> None:
    rec = Recorder()
    pfn = failing_fan()
    after = tool_subflow("unused", "after")  # nothing after the node may run
    flow = linear_flow("main", pfn, FlowNode(name="after", subflow=after),
                       outputs=pfn.outputs or [])
    rt = runtime({"slow": rec.async_tool("slow", 3.0, 1), "fail": fail_after(0.05),
                  "fast": rec.async_tool("fast", 0.0, 1), "after": rec.sync_tool("after")})
    result = rt.run(flow)
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > pfn > sub_x > node"
    assert "tool 'fail' raised ConnectionError: backend unreachable" in result.error.message
    [slow] = rec.named("slow")
    assert slow.cancelled  # it was cancelled, not left running or finished
    assert [s.cancelled for s in rec.named("fast")] == [False]
    assert rec.named("after") == []
    assert rec.in_flight == 0


def slow_with_cleanup(cleaned: list[str], name: str) -> Any:
    """An async tool whose cleanup (``finally``) takes a while: awaited, it is done."""
    async def tool() -> int:
        try:
            await asyncio.sleep(3.0)
            return 1
        finally:
            await asyncio.sleep(0.05)
            cleaned.append(name)

    return tool


@pytest.mark.timeout(5)
@pytest.mark.parametrize("kind", ["parallel_flow", "parallel_map"])
async def test_every_cancelled_sibling_has_cleaned_up_when_arun_returns(kind: str) -> None:
    cleaned: list[str] = []
    if kind == "parallel_flow":
        pfn = failing_fan()
        tools = {"slow": slow_with_cleanup(cleaned, "slow"), "fail": fail_after(0.05),
                 "fast": slow_with_cleanup(cleaned, "fast")}
        flow = linear_flow("main", pfn, outputs=pfn.outputs or [])
        result = await runtime(tools).arun(flow)
        expected = ["fast", "slow"]
    else:
        async def item(x: int) -> int:
            if x == 0:
                await asyncio.sleep(0.05)
                raise ConnectionError("backend unreachable")
            return await slow_with_cleanup(cleaned, f"item {x}")()

        each = ParallelMapNode(name="each", subflow=tool_subflow(
            "item", "item", props(x="integer"), props(y="integer")))
        flow = linear_flow("main", each, inputs=[prop("iterated_x", {"type": "array"})],
                           outputs=each.outputs or [])
        result = await runtime({"item": item}).arun(flow, {"iterated_x": [0, 1, 2, 3]})
        expected = ["item 1", "item 2", "item 3"]
    assert result.status == "failed" and result.error is not None
    assert "backend unreachable" in result.error.message
    assert sorted(cleaned) == expected  # no sibling is left cleaning up after the run


@pytest.mark.timeout(5)
def test_catch_exception_node_recovers_from_a_failed_parallel_branch() -> None:
    rec = Recorder()
    pfn = failing_fan()
    guarded = linear_flow("guarded", pfn, outputs=[
        prop("slow_out", "integer", default=-1), prop("x_out", "integer", default=-1),
        prop("fast_out", "integer", default=-1)])
    guard = CatchExceptionNode(name="guard", subflow=guarded)
    start = StartNode(name="start")
    end = EndNode(name="end", inputs=[prop("x_out", "integer"),
                                      prop("caught_exception_info", {"type": ["string", "null"]})])
    flow = make_flow("main", [start, guard, end],
                     [(start, guard), (guard, end, "next"),
                      (guard, end, "caught_exception_branch")])
    rt = runtime({"slow": rec.async_tool("slow", 3.0, 1), "fail": fail_after(0.02),
                  "fast": rec.async_tool("fast", 0.0, 1)})
    result = rt.run(flow)
    assert result.status == "finished", result.error
    assert result.outputs["x_out"] == -1
    assert "backend unreachable" in result.outputs["caught_exception_info"]
    assert "(in main > guard > guarded > pfn > sub_x > node)" in (
        result.outputs["caught_exception_info"])
    assert rec.named("slow")[0].cancelled


@pytest.mark.timeout(5)
@pytest.mark.parametrize("where", ["runtime", "node"])
def test_branch_timeout_gives_a_clear_error(where: str) -> None:
    rec = Recorder()
    subs = [tool_subflow("sub_slow", "slow", [], [prop("a", "integer")]),
            tool_subflow("sub_fast", "fast", [], [prop("b", "integer")])]
    if where == "node":
        fan = ParallelFlowNode(name="pfn", subflows=subs, metadata=limits(branch_timeout=0.1))
        rt_options: dict[str, Any] = {}
    else:
        fan = ParallelFlowNode(name="pfn", subflows=subs)
        rt_options = {"branch_timeout": 0.1}
    flow = linear_flow("main", fan, outputs=fan.outputs or [])
    rt = runtime({"slow": rec.async_tool("slow", 3.0, 1), "fast": rec.async_tool("fast", 0.0, 2)},
                 **rt_options)
    result = rt.run(flow)
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > pfn > sub_slow"
    assert "branch did not finish within 0.1 s" in result.error.message
    assert "raise the branch timeout" in result.error.message
    assert rec.named("slow")[0].cancelled
    assert not rec.named("fast")[0].cancelled


@pytest.mark.timeout(5)
def test_a_catch_exception_node_inside_a_branch_does_not_catch_its_timeout() -> None:
    # The timeout cancels the branch; a CatchExceptionNode that took the
    # cancellation for an error would finish the branch with its default outputs.
    rec = Recorder()
    slow = tool_subflow("slow_flow", "slow", [], [prop("a", "integer", default=-1)])
    guard = CatchExceptionNode(name="guard", subflow=slow)
    start, end = StartNode(name="start"), EndNode(name="end", inputs=[prop("a", "integer")])
    branch = make_flow("guarded", [start, guard, end],
                       [(start, guard), (guard, end, "next"),
                        (guard, end, "caught_exception_branch")])
    fan = ParallelFlowNode(name="pfn", subflows=[branch], metadata=limits(branch_timeout=0.1))
    flow = linear_flow("main", fan, outputs=fan.outputs or [])
    result = runtime({"slow": rec.async_tool("slow", 3.0, 1)}).run(flow)
    assert result.status == "failed", result.outputs
    assert isinstance(result.exception, BranchTimeout)
    assert result.error is not None and result.error.node == "main > pfn > guarded"
    assert "branch did not finish within 0.1 s" in result.error.message
    assert rec.named("slow")[0].cancelled


def test_node_branch_timeout_overrides_the_runtime_one() -> None:
    rec = Recorder()
    flow = fan_of(2, metadata=limits(branch_timeout=2.0))
    rt = runtime({"work": rec.async_tool("work", 0.1, 1)}, branch_timeout=0.01)
    assert rt.run(flow).status == "finished"


@pytest.mark.timeout(5)
def test_parallel_map_iteration_timeout_names_the_iteration() -> None:
    async def slow_on_two(x: int) -> int:
        await asyncio.sleep(3.0 if x == 2 else 0)
        return x

    each = ParallelMapNode(name="each", subflow=tool_subflow("item", "slow", props(x="integer"),
                                                             props(y="integer")),
                           metadata=limits(branch_timeout=0.1))
    flow = linear_flow("main", each, inputs=[prop("iterated_x", {"type": "array"})],
                       outputs=each.outputs or [])
    result = runtime({"slow": slow_on_two}).run(flow, {"iterated_x": [1, 2, 3]})
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > each > item[1]"
    assert "did not finish within 0.1 s" in result.error.message


# --- order ---------------------------------------------------------------------------


async def test_merge_order_is_subflow_order_not_completion_order() -> None:
    rec = Recorder()
    delays = {"first": 0.12, "second": 0.06, "third": 0.0}
    subs = [tool_subflow(f"{name}_flow", name, [], [prop(f"{name}_out", "integer")])
            for name in delays]
    fan = ParallelFlowNode(name="fan", subflows=subs)
    flow = linear_flow("main", fan, outputs=fan.outputs or [])
    rt = runtime({name: rec.async_tool(name, delay, i) for i, (name, delay)
                  in enumerate(delays.items())})
    plan = rt.compile(flow)
    [node] = [n for n in plan.nodes if n.name == "fan"]
    assert node.executor is not None
    ctx = RunContext(rt.services, Run("test"), ("main", "pfn"), step="main>pfn#1")
    outputs, branch = await node.executor.run(ctx, {})
    assert rec.finish_order() == ["third", "second", "first"]
    assert list(outputs.items()) == [("first_out", 0), ("second_out", 1), ("third_out", 2)]
    assert branch == "next"


def test_same_named_subflow_outputs_are_rejected_at_load_time() -> None:
    import loom

    subs = [tool_subflow(f"s{i}", "t", [], [prop("same")]) for i in range(2)]
    with pytest.raises(loom.SpecError, match="both produce output 'same'"):
        ParallelFlowNode(name="fan", subflows=subs)


# --- the event loop stays free -------------------------------------------------------


async def test_sync_tools_never_block_the_event_loop() -> None:
    rec = Recorder()
    ticks: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    try:
        result = await runtime(seed_tools(rec, 0.2, "sync")).arun(seed_flow(),
                                                                  {"username": "ada"})
    finally:
        stop.set()
        await task
    assert result.status == "finished", result.error
    begin = min(s.start for s in rec.spans)
    end = max(s.end or 0.0 for s in rec.spans)
    during = [t for t in ticks if begin <= t <= end]
    assert len(during) >= 8  # ~20 expected at 10 ms; a blocked loop gives 0 or 1
    gaps = [b - a for a, b in zip(during, during[1:], strict=False)]
    assert max(gaps) < 0.1


async def test_sequential_map_node_runs_inside_the_loop_too() -> None:
    rec = Recorder()
    each = MapNode(name="each", subflow=tool_subflow("item", "work", props(x="integer"),
                                                     props(y="integer")))
    flow = linear_flow("main", each, inputs=[prop("iterated_x", {"type": "array"})],
                       outputs=each.outputs or [])
    rt = runtime({"work": rec.sync_tool("work", 0.01, lambda x: x + 1)})
    result = await rt.arun(flow, {"iterated_x": [1, 2, 3]})
    assert result.outputs == {"collected_y": [2, 3, 4]}
    assert rec.max_in_flight == 1
