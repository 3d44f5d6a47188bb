"""Runtime events and the Agent Spec spans built from them."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest

import loom
from loom.errors import LoomError, LoomWarning
from loom.observability import MASK, SpanBuilder, SpanCollector
from loom.observability.spans import Span
from loom.runtime.events import RuntimeEvent
from loom.spec import InputMessageNode
from loom.testing import FakeLlmServer

from .conftest import SEED, chain, parallel, seed_tools, text, tool_step

BRANCHES = ["get_current_time_flow", "get_user_information_flow",
            "get_user_last_purchases_flow", "get_items_on_sale_flow"]


def collect(**options: Any) -> tuple[SpanCollector, SpanBuilder]:
    collector = SpanCollector()
    return collector, SpanBuilder([collector], **options)


def test_seed_flow_spans_nest_and_the_four_branches_overlap(seed_runtime: Any) -> None:
    collector, builder = collect(keep_events=True)
    result = seed_runtime(listeners=[builder]).run(SEED, {"username": "alice"})
    assert result.status == "finished"

    (root,) = [s for s in collector.spans if s.parent_id is None]
    assert root.type == "FlowExecutionSpan" and root.name == "marketing_message_flow"
    top_nodes = [s.name for s in collector.children(root)]
    assert top_nodes == ["parallel_flow_node", "prepare_marketing_message", "output_message"]

    (par,) = [s for s in collector.spans if s.name == "parallel_flow_node"]
    branches = collector.children(par)
    assert [b.name for b in branches] == BRANCHES
    assert all(b.type == "FlowExecutionSpan" and b.parent_id == par.id for b in branches)
    # All four run at the same time: each starts before any of them ends.
    assert max(b.start_time for b in branches) < min(b.end_time for b in branches)  # type: ignore[type-var]
    for branch in branches:
        assert par.start_time <= branch.start_time <= branch.end_time <= par.end_time  # type: ignore[operator]
        (node,) = collector.children(branch)
        (tool,) = collector.children(node)
        assert (node.type, tool.type) == ("NodeExecutionSpan", "ToolExecutionSpan")
        assert [e.type for e in tool.events] == ["ToolExecutionRequest", "ToolExecutionResponse"]

    (llm_node,) = [s for s in collector.spans if s.name == "prepare_marketing_message"]
    (generation,) = collector.children(llm_node)
    assert generation.type == "LlmGenerationSpan"
    kinds = [e.type for e in generation.events]
    assert kinds[0] == "LlmGenerationRequest" and kinds[-1] == "LlmGenerationResponse"
    assert kinds.count("LlmGenerationChunkReceived") >= 2  # streamed, token by token
    (output,) = [s for s in collector.spans if s.name == "output_message"]
    assert "ConversationMessageAdded" in [e.type for e in output.events]
    assert all(s.status == "ok" and s.end_time is not None for s in collector.spans)
    for span in collector.spans:  # every event lies within its span
        assert all(span.start_time <= e.timestamp <= span.end_time for e in span.events)  # type: ignore[operator]
    assert [e.type for e in root.events] == ["FlowExecutionStart", "FlowExecutionEnd"]
    assert root.events[-1].attributes["branch_selected"] == "next"


def test_sensitive_fields_are_masked_unless_asked(seed_runtime: Any) -> None:
    masked, builder = collect(keep_events=True)
    seed_runtime(listeners=[builder]).run(SEED, {"username": "alice"})
    start = next(e for e in masked.events if e.type == "NodeExecutionStart")
    assert start.attributes["inputs"] == MASK
    request = next(e for e in masked.events if e.type == "LlmGenerationRequest")
    assert request.attributes["prompt"] == MASK
    assert request.attributes["llm_config"]["name"] == "marketing_llm"

    plain, builder = collect(mask_sensitive=False, keep_events=True)
    seed_runtime(listeners=[builder]).run(SEED, {"username": "alice"})
    start = next(e for e in plain.events if e.type == "NodeExecutionStart")
    assert start.attributes["inputs"] == {"username": "alice"}
    request = next(e for e in plain.events if e.type == "LlmGenerationRequest")
    assert request.attributes["prompt"][0]["role"] == "user"
    assert "marketing expert" in request.attributes["prompt"][0]["content"]
    chunks = "".join(e.attributes["content"] for e in plain.events
                     if e.type == "LlmGenerationChunkReceived")
    response = next(e for e in plain.events if e.type == "LlmGenerationResponse")
    assert chunks == response.attributes["content"]


def test_the_llm_streams_only_when_someone_listens(seed_runtime: Any, llm: FakeLlmServer) -> None:
    llm.clear_requests()
    seed_runtime().run(SEED, {"username": "alice"})
    seed_runtime(listeners=[lambda event: None]).run(SEED, {"username": "alice"})
    streamed = [bool(r.get("stream")) for r in llm.requests[-2:]]
    assert streamed == [False, True]


async def test_astream_yields_events_as_they_happen_and_the_result_at_the_end(
    seed_runtime: Any,
) -> None:
    runtime = seed_runtime()
    stream = runtime.astream(SEED, {"username": "bob"})
    seen: list[RuntimeEvent] = []
    async for event in stream:
        seen.append(event)
    assert stream.result.status == "finished"
    assert "Instructions" in stream.result.outputs["marketing_message"]
    types = [e.type for e in seen]
    assert types[0] == "flow_start" and types[-1] == "flow_end"
    assert types.count("node_start") == types.count("node_end") == 7
    assert "llm_token" in types and "tool_start" in types and "message" in types
    assert all(e.run_id == stream.result.run_id for e in seen)
    assert [e.timestamp_ns for e in seen] == sorted(e.timestamp_ns for e in seen)
    # A plain run after the stream sees no leftover listener.
    assert runtime.listeners == []


async def test_astream_raises_configuration_errors_and_can_be_cancelled(
    seed_runtime: Any,
) -> None:
    runtime = seed_runtime(tools={})
    with pytest.raises(LoomError):
        async for _ in runtime.astream(SEED, {"username": "bob"}):
            pass
    runtime = seed_runtime(tools=seed_tools(delay=5))
    async with runtime.astream(SEED, {"username": "bob"}) as stream:
        async for event in stream:
            if event.type == "tool_start":
                break
    assert stream.result is None  # left early: the run was cancelled, not awaited for 5 s


class Boom(Exception):
    pass


def raising_listener(event: RuntimeEvent) -> None:
    raise Boom("listener bug")


async def raising_async_listener(event: RuntimeEvent) -> None:
    await asyncio.sleep(0)
    raise Boom("async listener bug")


@pytest.mark.parametrize("listener", [raising_listener, raising_async_listener],
                         ids=["sync", "async"])
def test_a_raising_listener_does_not_change_the_result(seed_runtime: Any, listener: Any) -> None:
    expected = seed_runtime().run(SEED, {"username": "carol"})
    collector, builder = collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = seed_runtime(listeners=[listener, builder]).run(SEED, {"username": "carol"})
    assert (result.status, result.outputs, result.messages) == (
        expected.status, expected.outputs, expected.messages)
    assert len(collector.finished) == len(collector.spans) == 17  # the others still heard all
    reports = [w for w in caught if issubclass(w.category, LoomWarning)]
    assert len(reports) == 1 and "listener bug" in str(reports[0].message)


def test_a_raising_span_processor_does_not_stop_the_others(seed_runtime: Any) -> None:
    class Broken(SpanCollector):
        def on_start(self, span: Span) -> None:
            raise RuntimeError("processor bug")

    collector = SpanCollector()
    with pytest.warns(LoomWarning, match="processor bug"):
        result = seed_runtime(listeners=[SpanBuilder([Broken(), collector])]).run(
            SEED, {"username": "dan"})
    assert result.status == "finished" and len(collector.finished) == 17


def failing_flow() -> loom.spec.Flow:
    bad = chain("bad_branch", [tool_step("explode", "x")], outputs=["x"])
    slow = chain("slow_branch", [tool_step("slow", "y")], outputs=["y"])
    return chain("main", [parallel("fan_out", bad, slow)], outputs=[])


def test_an_error_is_reported_once_where_it_happened_and_siblings_are_cancelled(
    llm: FakeLlmServer,
) -> None:
    def explode() -> str:
        raise ValueError("the input is wrong\nsecond line with detail")

    async def slow() -> str:
        await asyncio.sleep(5)
        return "late"

    collector, builder = collect(mask_sensitive=False, keep_events=True)
    runtime = loom.Runtime(tools={"explode": explode, "slow": slow}, listeners=[builder],
                           use_env=False)
    result = runtime.run(failing_flow())
    runtime.close()
    assert result.status == "failed"
    raised = [e for e in collector.events if e.type == "ExceptionRaised"]
    assert len(raised) == 1
    assert raised[0].attributes["exception_type"] == "ValueError"
    assert raised[0].attributes["exception_message"] == (
        "tool 'explode' raised ValueError: the input is wrong")
    by_name = {s.name: s for s in collector.spans}
    assert raised[0].span_id == by_name["explode_step"].id
    assert by_name["explode_step"].status == "error"
    assert by_name["explode"].status == "error"  # the tool span
    assert by_name["slow_step"].status == "cancelled"
    assert by_name["fan_out"].status == "error" and by_name["main"].status == "error"
    assert by_name["main"].error_type == "ValueError"

    masked, builder = collect(keep_events=True)
    runtime = loom.Runtime(tools={"explode": explode, "slow": slow}, listeners=[builder],
                           use_env=False)
    runtime.run(failing_flow())
    runtime.close()
    (event,) = [e for e in masked.events if e.type == "ExceptionRaised"]
    assert event.attributes == {"exception_type": "ValueError", "exception_message": MASK,
                                "exception_stacktrace": None}


def test_a_wait_is_an_event_and_the_span_ends_waiting() -> None:
    ask = InputMessageNode(name="ask", message="What is your name?", outputs=[text("name")])
    flow = chain("greeter", [ask], outputs=["name"])
    collector, builder = collect(mask_sensitive=False, keep_events=True)
    runtime = loom.Runtime(listeners=[builder], use_env=False)
    result = runtime.run(flow)
    assert result.status == "waiting"
    (request,) = [e for e in collector.events if e.type == "HumanInTheLoopRequest"]
    assert request.attributes["request_id"] == result.pending[0].id
    by_name = {s.name: s for s in collector.spans}
    assert by_name["ask"].status == "waiting" and by_name["greeter"].status == "waiting"
    resumed = runtime.resume(result.run_id, {result.pending[0].id: "Ada"})  # type: ignore[arg-type]
    runtime.close()
    assert resumed.status == "finished"
    assert collector.spans[-1].status == "ok"  # the resumed run: new spans, ended ok


def test_one_builder_follows_concurrent_runs_apart(seed_runtime: Any) -> None:
    collector, builder = collect()
    runtime = seed_runtime(listeners=[builder])

    async def both() -> None:
        await asyncio.gather(runtime.arun(SEED, {"username": "a"}),
                             runtime.arun(SEED, {"username": "b"}))

    asyncio.run(both())
    roots = [s for s in collector.spans if s.parent_id is None]
    assert len(roots) == 2 and len(collector.spans) == 34
    for span in collector.spans:
        if span.parent_id is not None:
            parent = next(p for p in collector.spans if p.id == span.parent_id)
            assert parent.run_id == span.run_id
