"""The Agent Spec tracing model: spans, their events, and span processors.

The spans are built from runtime events by
:class:`~loom.observability.builder.SpanBuilder`, a runtime listener. It turns each
:class:`~loom.runtime.events.RuntimeEvent` into one Agent Spec event
(``FlowExecutionStart``, ``NodeExecutionEnd``, ``LlmGenerationChunkReceived``...)
inside a span (``FlowExecutionSpan``, ``NodeExecutionSpan``, ``ToolExecutionSpan``,
``LlmGenerationSpan``, ``AgentExecutionSpan``...) and hands spans and events to its
:class:`SpanProcessor` objects (``on_start``, ``on_event``, ``on_end``).

Parents come from the step keys the engine gives every node execution: a node
``flow>node#1`` belongs to the flow whose step is ``flow``; a subflow run by that
node (a branch of a ParallelFlowNode, a MapNode iteration) has the step
``flow>node#1/branch`` and so the node as its parent; a tool call or an LLM
generation belongs to the node (or agent) running at its step. So the four
branches of a ParallelFlowNode are four FlowExecutionSpans side by side under
the ParallelFlowNode's NodeExecutionSpan.

Sensitive fields (section 9 of the spec: inputs, outputs, prompts, LLM content,
messages, exception messages) are masked unless ``mask_sensitive=False``; known
secrets are scrubbed from whatever is kept (see :mod:`loom.observability.masking`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RUNNING, OK, ERROR, WAITING, CANCELLED = "running", "ok", "error", "waiting", "cancelled"

@dataclass(eq=False, slots=True)
class SpanEvent:
    """An Agent Spec event: an instant fact inside one span.

    ``attributes`` holds the event's own fields, by their Agent Spec names, as
    JSON-ready values (sensitive ones masked unless asked otherwise).
    """

    id: str
    type: str
    timestamp: int
    span_id: str
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.type


@dataclass(eq=False, slots=True)
class Span:
    """An Agent Spec span: a time-bounded execution with events and a parent.

    ``path`` and ``step`` are loom's (the flow/node path and the step key);
    ``status`` is ``running`` until the span ends, then ``ok``, ``error``,
    ``waiting`` (the run paused here) or ``cancelled`` (a sibling branch failed).
    """

    id: str
    type: str
    name: str
    start_time: int
    parent_id: str | None = None
    run_id: str = ""
    path: tuple[str, ...] = ()
    step: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    end_time: int | None = None
    status: str = RUNNING
    error_type: str | None = None
    events: list[SpanEvent] = field(default_factory=list)
    open_children: int = field(default=0, repr=False)
    key: tuple[str, str, str, str] | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """``flow``, ``node``, ``tool``, ``llm`` or ``agent``."""
        return _KIND_OF_TYPE.get(self.type, "agent")

    @property
    def component_type(self) -> str | None:
        """The type of the flow, node, tool, LLM config or agent the span runs."""
        for key in ("node", "flow", "tool", "llm_config", "agent", "swarm", "managerworkers"):
            ref = self.attributes.get(key)
            if isinstance(ref, dict):
                return ref.get("component_type")
        return None

    @property
    def duration_s(self) -> float | None:
        return None if self.end_time is None else (self.end_time - self.start_time) / 1e9

    def add_event(self, event: SpanEvent) -> None:
        self.events.append(event)

    def to_dict(self) -> dict[str, Any]:
        """The span without its events (what a trace line carries)."""
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "parent_id": self.parent_id,
            "start_time": self.start_time,
        }
        if self.end_time is not None:
            data["end_time"] = self.end_time
            data["status"] = self.status
            if self.error_type:
                data["error_type"] = self.error_type
        return data


_KIND_OF_TYPE = {
    "FlowExecutionSpan": "flow",
    "NodeExecutionSpan": "node",
    "ToolExecutionSpan": "tool",
    "LlmGenerationSpan": "llm",
}


class Ref(dict[str, Any]):
    """A component reference ({component_type, id, name}): JSON already, no secrets."""


class SpanProcessor:
    """Receives spans and events; the Agent Spec SpanProcessor interface.

    Processors must not raise (a builder reports a raising processor once, as a
    warning, and goes on) and should not block: they run on the event loop.
    """

    def startup(self) -> None:
        """Called once before the first span."""

    def shutdown(self) -> None:
        """Called once when the trace is closed."""

    def on_start(self, span: Span) -> None:
        """A span started (before its start event)."""

    def on_event(self, event: SpanEvent, span: Span) -> None:
        """An event was added to ``span``."""

    def on_end(self, span: Span) -> None:
        """A span ended (after its end event)."""


class SpanCollector(SpanProcessor):
    """Keeps every span and event, in order: for tests and small tools."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.events: list[SpanEvent] = []
        self.finished: list[Span] = []

    def on_start(self, span: Span) -> None:
        self.spans.append(span)

    def on_event(self, event: SpanEvent, span: Span) -> None:
        self.events.append(event)

    def on_end(self, span: Span) -> None:
        self.finished.append(span)

    def by_type(self, span_type: str) -> list[Span]:
        return [span for span in self.spans if span.type == span_type]

    def children(self, span: Span) -> list[Span]:
        return [other for other in self.spans if other.parent_id == span.id]


def status_of(error: Any) -> str:
    """The status a span ends with, from the error of its end event."""
    if error is None:
        return OK
    name = type(error).__name__
    if name == "Suspended":
        return WAITING
    if name == "CancelledError":
        return CANCELLED
    return ERROR
