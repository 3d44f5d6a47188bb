"""OpenTelemetry: one OTel span per Agent Spec span, parents kept, branches side by side."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode  # noqa: E402

import loom  # noqa: E402
from loom.observability import MASK  # noqa: E402
from loom.observability.otel import OpenTelemetryExporter  # noqa: E402

from .conftest import SEED  # noqa: E402
from .test_events import BRANCHES, failing_flow  # noqa: E402


@pytest.fixture
def exported() -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def tree(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


def parent_of(span: ReadableSpan, spans: tuple[ReadableSpan, ...]) -> ReadableSpan | None:
    if span.parent is None:
        return None
    return next(s for s in spans if s.context.span_id == span.parent.span_id)


def test_seed_run_becomes_one_trace_with_branches_under_the_parallel_node(
    seed_runtime: Any, exported: Any
) -> None:
    provider, memory = exported
    result = seed_runtime(listeners=[OpenTelemetryExporter(provider)]).run(
        SEED, {"username": "alice"})
    assert result.status == "finished"
    spans = memory.get_finished_spans()
    assert len(spans) == 17
    assert len({s.context.trace_id for s in spans}) == 1
    by_name = tree(spans)
    root = by_name["flow marketing_message_flow"]
    assert root.parent is None
    parallel = by_name["node parallel_flow_node"]
    assert parent_of(parallel, spans) is root
    branches = [by_name[f"flow {name}"] for name in BRANCHES]
    assert all(parent_of(b, spans) is parallel for b in branches)
    assert max(b.start_time for b in branches) < min(b.end_time for b in branches)  # type: ignore[type-var]
    tool = by_name["execute_tool get_current_time"]
    assert parent_of(tool, spans) is by_name["node get_current_time_step"]
    assert tool.attributes["gen_ai.tool.name"] == "get_current_time"
    chat = by_name["chat fake-model"]
    assert parent_of(chat, spans) is by_name["node prepare_marketing_message"]
    assert chat.attributes["gen_ai.request.model"] == "fake-model"
    assert chat.attributes["agentspec.span.type"] == "LlmGenerationSpan"
    assert chat.attributes["loom.llm.chunks"] >= 2
    assert [e.name for e in chat.events] == ["LlmGenerationRequest", "LlmGenerationResponse"]
    assert chat.events[0].attributes["prompt"] == MASK
    assert parallel.attributes["loom.path"] == "marketing_message_flow > parallel_flow_node"
    assert all(s.status.status_code == StatusCode.OK for s in spans)


def test_a_failure_marks_the_spans_on_its_path(exported: Any) -> None:
    provider, memory = exported

    def explode() -> str:
        raise ValueError("no")

    async def slow() -> str:
        import asyncio

        await asyncio.sleep(5)
        return "late"

    runtime = loom.Runtime(tools={"explode": explode, "slow": slow}, use_env=False,
                           listeners=[OpenTelemetryExporter(provider)])
    assert runtime.run(failing_flow()).status == "failed"
    runtime.close()
    by_name = tree(memory.get_finished_spans())
    for name in ("flow main", "node fan_out", "node explode_step", "execute_tool explode"):
        assert by_name[name].status.status_code == StatusCode.ERROR, name
    assert by_name["node explode_step"].attributes["error.type"] == "ValueError"
    (raised,) = [e for e in by_name["node explode_step"].events if e.name == "ExceptionRaised"]
    assert raised.attributes["exception_type"] == "ValueError"
    assert by_name["node slow_step"].attributes["loom.status"] == "cancelled"


def test_the_run_nests_under_the_callers_current_span(seed_runtime: Any, exported: Any) -> None:
    provider, memory = exported
    tracer = provider.get_tracer("app")
    runtime = seed_runtime(listeners=[OpenTelemetryExporter(provider)])
    with tracer.start_as_current_span("request"):
        runtime.run(SEED, {"username": "alice"})
    spans = memory.get_finished_spans()
    request = tree(spans)["request"]
    assert parent_of(tree(spans)["flow marketing_message_flow"], spans) is request
