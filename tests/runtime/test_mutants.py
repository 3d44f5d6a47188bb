"""Behaviour of the engine, the subflow executors and the journal that mutation
testing (scripts/mutation) found no test for: each test kills mutants that survived."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from loom import LoomWarning
from loom.errors import NodeFailure, RunError, StepError, describe
from loom.runtime.engine import FlowOutcome, _execute
from loom.runtime.events import RuntimeEvent
from loom.runtime.executors.subflows import MapExecutor, _summary
from loom.runtime.journal import PendingRequest, Suspended
from loom.spec import (
    BranchingNode,
    CatchExceptionNode,
    EndNode,
    FlowNode,
    MapNode,
    ParallelFlowNode,
    StartNode,
)

from .conftest import Recorder, Spy, limits, linear_flow, make_flow, prop, runtime, tool_node

INTS = {"type": "array", "items": {"type": "integer"}}
INT_LISTS = {"type": "array", "items": INTS}


def three_steps() -> Any:
    return linear_flow("main", tool_node("a", name="a"), tool_node("b", name="b"),
                       tool_node("c", name="c"))


ABC = {"a": Spy(), "b": Spy(), "c": Spy()}


# --- the step limit, in both walks (chained sync tools, and one node at a time) -----


@pytest.mark.parametrize("watched", [False, True], ids=["chained", "watched"])
def test_a_flow_of_exactly_max_steps_runs_and_one_more_fails(watched: bool) -> None:
    listeners = [lambda event: None] if watched else []
    ok = runtime(ABC, max_steps=3, listeners=listeners).run(three_steps(), {})
    assert ok.status == "finished", ok.error
    failed = runtime(ABC, max_steps=2, listeners=listeners).run(three_steps(), {})
    assert failed.status == "failed" and failed.error is not None
    assert isinstance(failed.exception, RunError) and failed.error.node == "main"
    assert failed.exception.message == "the flow ran 2 steps without reaching an EndNode"
    assert failed.exception.hint == (
        "check the loop's exit condition, or raise Runtime(max_steps=...)")


# --- inputs: converted to their declared type, and a missing one named -------------


@pytest.mark.parametrize("watched", [False, True], ids=["chained", "watched"])
def test_flow_and_node_inputs_are_converted_to_their_declared_types(watched: bool) -> None:
    make = tool_node("make", [prop("n", "integer")], [prop("count", "integer")])
    show = tool_node("show", [prop("count", "string")], [prop("shown")])
    flow = linear_flow("main", make, show, inputs=[prop("n", "integer")],
                       outputs=[prop("shown")])
    made, shown = Spy(lambda n: n + 1), Spy(lambda count: count)
    listeners = [lambda event: None] if watched else []
    result = runtime({"make": made, "show": shown}, listeners=listeners).run(flow, {"n": "7"})
    assert result.status == "finished", result.error
    assert made.calls == [{"n": 7}]  # the flow input "7" as an integer
    assert shown.calls == [{"count": "8"}]  # the integer 8 given to a string input
    assert result.outputs == {"shown": "8"}


def test_a_flow_input_is_converted_even_when_no_node_converts_it() -> None:
    flow = linear_flow("main", inputs=[prop("n", "integer")], outputs=[prop("n", {})])
    assert runtime().run(flow, {"n": "7"}).outputs == {"n": 7}


@pytest.mark.parametrize("watched", [False, True], ids=["chained", "watched"])
def test_an_input_nobody_produced_names_the_node_and_the_fix(watched: bool) -> None:
    # "maybe" runs only when go == "yes"; "use" reads its output either way.
    start = StartNode(name="start", inputs=[prop("go")])
    route = BranchingNode(name="route", mapping={"yes": "yes"}, inputs=[prop("go")])
    maybe = tool_node("maybe", [], [prop("x")])
    use = tool_node("use", [prop("x")], [])
    end = EndNode(name="end")
    flow = make_flow("main", [start, route, maybe, use, end],
                     [(start, route), (route, maybe, "yes"), (route, use, "default"),
                      (maybe, use), (use, end)])
    listeners = [lambda event: None] if watched else []
    rt = runtime({"maybe": Spy({"x": "made"}), "use": Spy()}, listeners=listeners)
    assert rt.run(flow, {"go": "yes"}).status == "finished"
    result = rt.run(flow, {"go": "no"})
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > use"
    assert result.exception.message == (
        "input 'x' has no value: no producer has run and it has no default")
    assert isinstance(result.exception, NodeFailure)
    assert result.exception.hint == (
        "connect it to a node that runs before this one, or give it a default")


# --- branches, outputs of several EndNodes -------------------------------------------


@pytest.mark.parametrize("watched", [False, True], ids=["chained", "watched"])
def test_a_branch_without_an_edge_is_named_with_the_fix(watched: bool) -> None:
    start = StartNode(name="start", inputs=[prop("go")])
    route = BranchingNode(name="route", mapping={"t": "t"}, inputs=[prop("go")])
    dangling = tool_node("t")  # its "next" branch leads nowhere
    end = EndNode(name="end")
    with pytest.warns(LoomWarning, match="branch 'next' of ToolNode 't' has no control edge"):
        flow = make_flow("main", [start, route, dangling, end],
                         [(start, route), (route, dangling, "t"), (route, end, "default")])
    listeners = [lambda event: None] if watched else []
    result = runtime({"t": Spy()}, listeners=listeners).run(flow, {"go": "t"})
    assert result.error is not None and result.error.node == "main > t"
    assert isinstance(result.exception, NodeFailure)
    assert result.exception.message == "took branch 'next', which has no control edge"
    assert result.exception.hint == "add a ControlFlowEdge from this node's 'next' branch"


# --- events of flows and nodes --------------------------------------------------------


def _events_of(flow: Any, tools: dict[str, Any], inputs: dict[str, Any]) -> list[RuntimeEvent]:
    events: list[RuntimeEvent] = []
    runtime(tools, listeners=[events.append]).run(flow, inputs)
    return events


def test_flow_and_node_events_carry_their_path_component_values_and_branch() -> None:
    step = tool_node("echo", [prop("x")], [prop("y")])
    inner = linear_flow("inner", step, inputs=[prop("x")], outputs=[prop("y")])
    sub = FlowNode(name="sub", subflow=inner)
    flow = linear_flow("main", sub, inputs=[prop("x")], outputs=[prop("y")])
    events = _events_of(flow, {"echo": Spy(lambda x: {"y": x + "!"})}, {"x": "hi"})
    by = {(e.type, e.path): e for e in events}
    start = by["flow_start", ("main", "sub", "inner")]
    assert start.data["flow"] is inner and start.data["inputs"] == {"x": "hi"}
    end = by["flow_end", ("main", "sub", "inner")]
    assert end.data["flow"] is inner
    assert end.data["outputs"] == {"y": "hi!"} and end.data["branch"] == "next"
    assert by["flow_end", ("main",)].data["flow"] is flow
    node_end = by["node_end", ("main", "sub", "inner", "echo")]
    assert node_end.data["node"] is step
    assert node_end.data["outputs"] == {"y": "hi!"} and node_end.data["branch"] == "next"
    assert node_end.step == "main>sub#1/inner>echo#1"


def test_a_failure_is_reported_on_the_node_and_the_flows_around_it() -> None:
    step = tool_node("boom", [], [])
    inner = linear_flow("inner", step)
    flow = linear_flow("main", FlowNode(name="sub", subflow=inner))

    def boom() -> None:
        raise ValueError("it broke")

    events = _events_of(flow, {"boom": boom}, {})
    exceptions = [(e.path, e.step) for e in events if e.type == "exception"]
    assert exceptions == [(("main", "sub", "inner", "boom"), "main>sub#1/inner>boom#1")]
    ends = {e.path: e for e in events if e.type in ("node_end", "flow_end")}
    assert ends["main", "sub", "inner", "boom"].data["node"] is step
    assert ends["main", "sub", "inner"].data["flow"] is inner
    assert isinstance(ends["main", "sub", "inner"].data["error"], NodeFailure)


def test_a_flow_that_fails_itself_reports_the_exception_on_the_flow() -> None:
    inner = three_steps().model_copy(update={"name": "inner"})
    flow = linear_flow("main", FlowNode(name="sub", subflow=inner))
    events: list[RuntimeEvent] = []
    runtime(ABC, max_steps=2, listeners=[events.append]).run(flow, {})
    exceptions = [(e.path, e.step) for e in events if e.type == "exception"]
    assert exceptions[0] == (("main", "sub", "inner"), "main>sub#1/inner")
    flow_end = next(e for e in events if e.type == "flow_end")
    assert flow_end.path == ("main", "sub", "inner") and flow_end.data["flow"] is inner
    result = runtime(ABC, max_steps=2).run(flow, {})
    assert result.error is not None and result.error.node == "main > sub > inner"


# --- errors raised inside executors ----------------------------------------------------


def test_an_executor_error_keeps_its_hint_and_others_are_described() -> None:
    node = MapNode(name="each", subflow=linear_flow("sub", inputs=[prop("v", "integer")]))
    flow = linear_flow("main", node, inputs=[prop("iterated_v", "integer")])
    result = runtime().run(flow, {"iterated_v": 3})  # not a list
    assert result.error is not None and result.error.node == "main > each"
    assert result.exception.message == (
        "a MapNode needs at least one input connected to a list to iterate over")
    assert result.exception is not None
    assert result.exception.hint == "connect a list to one of its iterated_* inputs"


@pytest.mark.parametrize("watched", [False, True], ids=["plain", "watched"])
def test_an_async_tool_error_names_the_node(watched: bool) -> None:
    async def fail() -> None:
        raise ValueError("bad value")

    listeners = [lambda event: None] if watched else []
    result = runtime({"fail": fail}, listeners=listeners).run(
        linear_flow("main", tool_node("fail")), {})
    assert result.error is not None
    assert (result.error.node, result.error.message) == (
        "main > fail", "tool 'fail' raised ValueError: bad value")


async def test_an_executor_that_raises_anything_else_fails_its_node() -> None:
    # Executors turn what they call into StepError; anything else is a bug of theirs,
    # still reported on the node.
    async def run(step: Any, args: dict[str, Any]) -> Any:
        raise KeyError("k")

    node = SimpleNamespace(journaled=False, executor=SimpleNamespace(run=run))
    step = SimpleNamespace(path=("main", "x"), run=SimpleNamespace(journal=None))
    with pytest.raises(NodeFailure) as caught:
        await _execute(node, step, {})  # type: ignore[arg-type]
    assert caught.value.node_path == ("main", "x")
    assert caught.value.message == describe(KeyError("k"))
    assert isinstance(caught.value.__cause__, KeyError)


# --- MapNode: broadcast inputs, array inputs, lengths, reducers ------------------------


def test_a_map_broadcasts_inputs_that_are_not_iterated_even_lists() -> None:
    # The subflow takes "weights" whole (an array): a flat list is broadcast, not
    # iterated, although the map declares it as an array; "tag" is one value.
    pair = tool_node("pair", [prop("xs", INTS), prop("weights", INTS), prop("tag")],
                     [prop("out", "integer")])
    sub = linear_flow("sub", pair, inputs=[prop("xs", INTS), prop("weights", INTS),
                                            prop("tag")], outputs=[prop("out", "integer")])
    node = MapNode(name="each", subflow=sub, inputs=[
        prop("iterated_xs", INT_LISTS), prop("iterated_weights", INTS), prop("iterated_tag")])
    flow = linear_flow("main", node, inputs=node.inputs or [], outputs=node.outputs or [])
    spy = Spy(lambda xs, weights, tag: sum(x * w for x, w in zip(xs, weights, strict=True)))
    result = runtime({"pair": spy}).run(
        flow, {"iterated_xs": [[1, 2], [3, 4]], "iterated_weights": [10, 100],
               "iterated_tag": "t"})
    assert result.status == "finished", result.error
    assert spy.calls == [{"xs": [1, 2], "weights": [10, 100], "tag": "t"},
                         {"xs": [3, 4], "weights": [10, 100], "tag": "t"}]
    assert result.outputs == {"collected_out": [210, 430]}


def test_iterated_lists_of_different_lengths_are_refused_with_the_fix() -> None:
    two = tool_node("two", [prop("a", "integer"), prop("b", "integer")], [])
    sub = linear_flow("sub", two, inputs=[prop("a", "integer"), prop("b", "integer")])
    node = MapNode(name="each", subflow=sub,
                   inputs=[prop("iterated_a", INTS), prop("iterated_b", INTS)])
    flow = linear_flow("main", node, inputs=node.inputs or [])
    result = runtime({"two": Spy()}).run(flow, {"iterated_a": [1, 2], "iterated_b": [1]})
    assert result.error is not None
    assert result.exception.message == (
        "iterated inputs have different lengths {'a': 2, 'b': 1}")
    assert result.exception is not None
    assert result.exception.hint == "give every iterated list the same number of items"


def test_max_over_no_items_is_refused_with_the_fix() -> None:
    node = MapNode(name="each", subflow=tool_subflow_scale(), reducers={"y": "max"})
    flow = linear_flow("main", node, inputs=[prop("iterated_v", INTS)])
    result = runtime({"scale": Spy({"y": 1})}).run(flow, {"iterated_v": []})
    assert result.error is not None
    assert result.exception.message == "cannot take the max of 'y' over zero items"
    assert result.exception is not None
    assert result.exception.hint == (
        "use 'sum' or 'append', or make sure the list is not empty")


def tool_subflow_scale() -> Any:
    step = tool_node("scale", [prop("v", "integer")], [prop("y", "integer")])
    return linear_flow("sub", step, inputs=[prop("v", "integer")],
                       outputs=[prop("y", "integer")])


def test_an_iteration_without_a_reduced_output_is_named() -> None:
    fake = SimpleNamespace(reducers={"y": "sum"})
    outcomes = [FlowOutcome({"y": 1}, "next"), FlowOutcome({}, "next")]
    with pytest.raises(StepError) as caught:
        MapExecutor._reduce(fake, outcomes)  # type: ignore[arg-type]
    assert str(caught.value) == "iteration 1 produced no value for output 'y'"


# --- parallel branches: timeout, cancellation from outside ----------------------------


def test_a_branch_timeout_names_the_branch_and_the_fix() -> None:
    rec = Recorder()
    slow = linear_flow("slow", tool_node("nap", name="nap"))
    node = ParallelFlowNode(name="fan", subflows=[slow],
                            metadata=limits(branch_timeout=0.05))
    result = runtime({"nap": rec.async_tool("nap", delay=5)}).run(
        linear_flow("main", node), {})
    assert result.error is not None and result.error.node == "main > fan > slow"
    assert result.exception.message == "branch did not finish within 0.05 s"
    assert result.exception is not None
    assert result.exception.hint == "raise the branch timeout or make the branch faster"


async def test_cancelling_a_run_cancels_and_awaits_its_running_branches() -> None:
    rec = Recorder()
    branches = [linear_flow(f"b{i}", tool_node("nap", name="nap")) for i in range(3)]
    flow = linear_flow("main", ParallelFlowNode(name="fan", subflows=branches))
    rt = runtime({"nap": rec.async_tool("nap", delay=5)})
    task = asyncio.ensure_future(rt.arun(flow, {}))
    while len(rec.spans) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [span.cancelled for span in rec.spans] == [True, True, True]
    assert all(span.end is not None for span in rec.spans)  # awaited, not left running


async def test_a_failing_branch_waits_for_its_cancelled_siblings_to_finish() -> None:
    cleaned: list[str] = []

    async def nap() -> None:
        try:
            await asyncio.sleep(5)
        finally:
            await asyncio.sleep(0.05)  # cleanup that takes a while
            cleaned.append("nap")

    async def fail() -> None:
        await asyncio.sleep(0.02)
        raise ValueError("no")

    flow = linear_flow("main", ParallelFlowNode(name="fan", subflows=[
        linear_flow("a", tool_node("nap")), linear_flow("b", tool_node("fail"))]))
    result = await runtime({"nap": nap, "fail": fail}).arun(flow, {})
    assert result.error is not None and result.error.node == "main > fan > b > fail"
    assert cleaned == ["nap"]


# --- CatchExceptionNode's summary of the error -----------------------------------------


def test_the_caught_summary_is_the_first_line_and_where() -> None:
    assert _summary(NodeFailure("first\nsecond", ("main", "step"))) == "first (in main > step)"
    assert _summary(RunError("no node")) == "no node"
    assert _summary(ValueError("plain\nmore")) == "plain"
    assert _summary(ValueError()) == "ValueError"
    assert _summary(RunError("xy " * 140, ("main",))) == ("xy " * 140)[:300]
    # One 400-character word is a value the message already cut short (errors.shorten).
    assert _summary(RunError("x" * 400, ("main",))) == "x" * 40 + "… (400 characters) (in main)"


def test_a_caught_failure_gives_the_defaults_and_the_summary() -> None:
    def boom() -> None:
        raise ValueError("it broke\nsecond line")

    inner = linear_flow("inner", tool_node("boom"), outputs=[prop("y", default="none")])
    catch = CatchExceptionNode(name="guard", subflow=inner)
    caught = EndNode(name="caught", inputs=[prop("caught_exception_info")],
                     branch_name="caught")
    start = StartNode(name="start")
    ok_end = EndNode(name="end", inputs=[prop("y")])
    flow = make_flow("main", [start, catch, ok_end, caught],
                     [(start, catch), (catch, ok_end), (catch, caught, "caught_exception_branch")],
                     outputs=[prop("y", default="-"), prop("caught_exception_info", default="-")])
    result = runtime({"boom": boom}).run(flow, {})
    assert result.status == "finished", result.error
    assert result.branch == "caught"
    assert result.outputs["caught_exception_info"] == (
        "tool 'boom' raised ValueError: it broke (in main > guard > inner > boom)")


# --- the journal's records ---------------------------------------------------------------


def test_a_pending_request_comes_back_whole_from_its_state() -> None:
    request = PendingRequest(id="r1", kind="client_tool", node="main > ask", key="main>ask#1",
                             prompt="which?", tool_call={"name": "t", "arguments": {}})
    assert PendingRequest.from_state(request.to_state()) == request
    bare = PendingRequest.from_state({"id": "r2", "kind": "input", "node": "n", "key": "k"})
    assert (bare.prompt, bare.tool_call) == (None, None)


def test_suspended_says_how_many_requests_wait() -> None:
    requests = [PendingRequest(id=str(i), kind="input", node="n", key=f"k{i}") for i in range(2)]
    waiting = Suspended(requests)
    assert str(waiting) == "waiting for 2 request(s)" and waiting.requests == requests
