"""OpenTelemetry: Agent Spec spans as OpenTelemetry spans (``pip install 'loom[otel]'``).

::

    from loom.observability.otel import OpenTelemetryExporter
    runtime = loom.Runtime(listeners=[OpenTelemetryExporter()])   # the global provider

Every Agent Spec span becomes one OpenTelemetry span with the same start and end
times and its parent: the run's FlowExecutionSpan is the root (or a child of the
span current when the run started), nodes are its children, the branches of a
ParallelFlowNode are sibling spans under the node's span, so a trace viewer shows
them side by side. Agent Spec events become span events (streamed LLM chunks are
counted, not exported one by one, unless ``chunk_events=True``). Attributes follow
the OpenTelemetry GenAI conventions where they apply (``gen_ai.request.model``,
``gen_ai.usage.input_tokens``, ``gen_ai.tool.name``...). Sensitive fields stay
masked unless ``include_content=True``; known secrets are always scrubbed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from loom import __version__
from loom._optional import require
from loom.errors import PATH_SEPARATOR
from loom.observability.builder import SpanBuilder
from loom.observability.masking import MASK, secrets_of
from loom.observability.spans import (
    ERROR,
    OK,
    Ref,
    Span,
    SpanEvent,
    SpanProcessor,
)
from loom.runtime.events import RuntimeEvent

require("opentelemetry.trace", "otel", "the OpenTelemetry exporter", package="opentelemetry")
from opentelemetry import trace  # noqa: E402
from opentelemetry.trace import SpanKind, Status, StatusCode  # noqa: E402

_OPERATIONS = {"llm": "chat", "tool": "execute_tool", "agent": "invoke_agent"}
_END_EVENTS = ("End", "Response")


def otel_name(span: Span) -> str:
    """``flow NAME``, ``node NAME``, ``chat MODEL``, ``execute_tool NAME``, ``invoke_agent NAME``."""
    kind = span.kind
    if kind == "llm":
        return f"chat {span.attributes.get('model') or span.name}"
    return f"{_OPERATIONS.get(kind, kind)} {span.name}"


def _value(value: Any) -> Any:
    """An OpenTelemetry attribute value: primitives as they are, the rest as JSON."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _value(value) for key, value in values.items() if value is not None}


def _event_attributes(values: dict[str, Any]) -> dict[str, Any]:
    """An event's fields, less the component references the span already names."""
    return {key: _value(value) for key, value in values.items()
            if value is not None and value.__class__ is not Ref}


class OtelSpanProcessor(SpanProcessor):
    """Mirrors Agent Spec spans into OpenTelemetry spans of ``tracer``."""

    def __init__(self, tracer: trace.Tracer, chunk_events: bool = False) -> None:
        self.tracer = tracer
        self.chunk_events = chunk_events
        self._spans: dict[str, trace.Span] = {}
        self._chunks: dict[str, int] = {}

    def on_start(self, span: Span) -> None:
        parent = self._spans.get(span.parent_id) if span.parent_id else None
        context = trace.set_span_in_context(parent) if parent is not None else None
        kind = SpanKind.CLIENT if span.kind in ("llm", "tool") else SpanKind.INTERNAL
        self._spans[span.id] = self.tracer.start_span(
            otel_name(span),
            context=context,
            kind=kind,
            start_time=span.start_time,
            attributes=_attributes(self._span_attributes(span)),
        )

    def _span_attributes(self, span: Span) -> dict[str, Any]:
        ref = next((v for v in span.attributes.values() if isinstance(v, dict)), {})
        values: dict[str, Any] = {
            "agentspec.span.type": span.type,
            "agentspec.component.type": ref.get("component_type"),
            "agentspec.component.id": ref.get("id"),
            "agentspec.component.name": ref.get("name") or span.name,
            "loom.run_id": span.run_id or None,
            "loom.path": PATH_SEPARATOR.join(span.path),
            "loom.step": span.step,
        }
        operation = _OPERATIONS.get(span.kind)
        if operation:
            values["gen_ai.operation.name"] = operation
        if span.kind == "llm":
            values["gen_ai.request.model"] = span.attributes.get("model")
        elif span.kind == "tool":
            values["gen_ai.tool.name"] = span.name
        elif span.kind == "agent":
            values["gen_ai.agent.name"] = span.name
        return values

    def on_event(self, event: SpanEvent, span: Span) -> None:
        otel = self._spans.get(span.id)
        if otel is None:
            return
        if event.type == "LlmGenerationChunkReceived" and not self.chunk_events:
            self._chunks[span.id] = self._chunks.get(span.id, 0) + 1
            return
        otel.add_event(event.type, attributes=_event_attributes(event.attributes),
                       timestamp=event.timestamp)
        if event.type.endswith(_END_EVENTS):
            self._end_attributes(otel, event)

    def _end_attributes(self, otel: trace.Span, event: SpanEvent) -> None:
        values = event.attributes
        extra: dict[str, Any] = {
            "agentspec.branch_selected": values.get("branch_selected"),
            "gen_ai.usage.input_tokens": values.get("input_tokens"),
            "gen_ai.usage.output_tokens": values.get("output_tokens"),
            "loom.status": values.get("status"),
            "error.type": values.get("error_type"),
        }
        if values.get("finish_reason"):
            extra["gen_ai.response.finish_reasons"] = [values["finish_reason"]]
        otel.set_attributes({k: v for k, v in extra.items() if v is not None and v != MASK})

    def on_end(self, span: Span) -> None:
        otel = self._spans.pop(span.id, None)
        if otel is None:
            return
        chunks = self._chunks.pop(span.id, None)
        if chunks is not None:
            otel.set_attribute("loom.llm.chunks", chunks)
        if span.status == ERROR:
            otel.set_status(Status(StatusCode.ERROR, span.error_type or "error"))
        elif span.status == OK:
            otel.set_status(Status(StatusCode.OK))
        else:
            otel.set_attribute("loom.status", span.status)
        otel.end(end_time=span.end_time)


class OpenTelemetryExporter:
    """A runtime listener exporting every run as an OpenTelemetry trace.

    ``tracer_provider`` defaults to the global one (``opentelemetry.trace``).
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        *,
        include_content: bool = False,
        chunk_events: bool = False,
        secrets: Iterable[str] = (),
    ) -> None:
        provider = tracer_provider or trace.get_tracer_provider()
        self.tracer = provider.get_tracer("loom", __version__)
        self.processor = OtelSpanProcessor(self.tracer, chunk_events=chunk_events)
        self.builder = SpanBuilder(
            [self.processor],
            mask_sensitive=not include_content,
            secrets=secrets,
        )

    def add_secrets_of(self, component: Any) -> None:
        self.builder.add_secrets(secrets_of(component))

    def __call__(self, event: RuntimeEvent) -> None:
        self.builder(event)

    def shutdown(self) -> None:
        """End spans still open (a cut-short run) and flush nothing else: the
        provider's own span processors export."""
        self.builder.shutdown()
