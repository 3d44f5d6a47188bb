"""Building Agent Spec spans from runtime events (see :mod:`loom.observability.spans`)."""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Iterable
from typing import Any

from loom._cache import IdentityCache
from loom.errors import LoomWarning, describe
from loom.observability.masking import (
    MASK,
    SENSITIVE_FIELDS,
    Scrubber,
    component_ref,
    environment_secrets,
    secrets_of,
    to_jsonable,
)
from loom.observability.spans import (
    CANCELLED,
    ERROR,
    OK,
    Ref,
    Span,
    SpanEvent,
    SpanProcessor,
    status_of,
)
from loom.runtime.events import RuntimeEvent
from loom.spec.component import Component

_AGENT_KINDS = {
    "Swarm": ("SwarmExecutionSpan", "SwarmExecution", "swarm"),
    "ManagerWorkers": ("ManagerWorkersExecutionSpan", "ManagerWorkersExecution", "managerworkers"),
}
_AGENT_DEFAULT = ("AgentExecutionSpan", "AgentExecution", "agent")


_PLAIN = (bool, int, float)


class SpanBuilder:
    """A runtime listener that builds Agent Spec spans and feeds processors.

    ``SpanBuilder([processor, ...], mask_sensitive=True, secrets=[...])``. One
    builder can follow many runs at once (spans are keyed by run id). Besides
    ``secrets``, it scrubs the sensitive field values of every flow or agent a run
    starts with and the environment's API keys as each run starts.
    """

    def __init__(
        self,
        processors: Iterable[SpanProcessor] = (),
        *,
        mask_sensitive: bool = True,
        secrets: Iterable[str] = (),
        keep_events: bool = False,
    ) -> None:
        self.processors = list(processors)
        self._refs: IdentityCache[Component, Any] = IdentityCache()  # weak: one per flow
        self._scanned: IdentityCache[Component, bool] = IdentityCache()
        self.mask_sensitive = mask_sensitive
        self.scrub = Scrubber(secrets)
        self.keep_events = keep_events
        self._ids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self._open: dict[tuple[str, str, str, str], Span] = {}
        self._by_id: dict[str, Span] = {}
        self._stacks: dict[tuple[str, str], list[Span]] = {}
        self._started = False
        self._failed: set[int] = set()

    # -- lifecycle ----------------------------------------------------------------

    def startup(self) -> None:
        if not self._started:
            self._started = True
            for processor in self.processors:
                self._call(processor, "startup")

    def shutdown(self) -> None:
        """End the trace: spans still open end as cancelled; processors shut down."""
        now = time.time_ns()
        for span in list(self._open.values()):
            self._end(span, max(now, span.start_time), CANCELLED)
        if self._started:
            self._started = False
            for processor in self.processors:
                self._call(processor, "shutdown")

    def add_secrets(self, secrets: Iterable[str]) -> None:
        self.scrub.add(secrets)

    def _learn_secrets(self, root: Any) -> None:
        """A run starts: its component's secrets (found once per component) and the
        environment's keys (read again: they may have been set since) are scrubbed."""
        self.scrub.add(environment_secrets())
        if isinstance(root, Component) and self._scanned.get(root) is None:
            self.scrub.add(secrets_of(root))
            self._scanned.put(root, True)

    # -- the listener ---------------------------------------------------------------

    def __call__(self, event: RuntimeEvent) -> None:
        if not self._started:
            self.startup()
        handler = _HANDLERS.get(event.type)
        if handler is None:
            self._instant(event, "loom." + event.type, {"data": event.data}, sensitive_all=True)
        else:
            handler(self, event)

    # -- spans ------------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"s{next(self._ids)}"

    def _start(
        self,
        event: RuntimeEvent,
        kind: str,
        extra: str,
        span_type: str,
        name: str,
        attributes: dict[str, Any],
        parent: Span | None,
    ) -> Span:
        span = Span(
            id=self._new_id(),
            type=span_type,
            name=name,
            start_time=event.timestamp_ns,
            parent_id=parent.id if parent is not None else None,
            run_id=event.run_id,
            path=event.path,
            step=event.step,
            attributes=attributes,
        )
        if parent is not None:
            parent.open_children += 1
        span.key = (event.run_id, kind, event.step, extra)
        self._open[span.key] = span
        self._by_id[span.id] = span
        self._stacks.setdefault((event.run_id, event.step), []).append(span)
        for processor in self.processors:
            self._call(processor, "on_start", span)
        return span

    def _finish(self, event: RuntimeEvent, kind: str, extra: str) -> Span | None:
        return self._open.get((event.run_id, kind, event.step, extra))

    def _end(self, span: Span, end_time: int | None, status: str, error: Any = None) -> None:
        if span.end_time is not None:
            return
        if span.open_children:
            for child in [s for s in self._open.values() if s.parent_id == span.id]:
                self._end(child, end_time, CANCELLED if status == OK else status)
        span.end_time = end_time if end_time is not None else span.start_time
        span.status = status
        if error is not None and status == ERROR:
            span.error_type = _error_type(error)
        if span.key is not None and self._open.get(span.key) is span:
            del self._open[span.key]
        self._by_id.pop(span.id, None)
        stack = self._stacks.get((span.run_id, span.step))
        if stack is not None:
            if span in stack:
                stack.remove(span)
            if not stack:
                del self._stacks[(span.run_id, span.step)]
        if span.parent_id is not None:
            parent = self._by_id.get(span.parent_id)
            if parent is not None:
                parent.open_children -= 1
        for processor in self.processors:
            self._call(processor, "on_end", span)

    def _owner(self, event: RuntimeEvent) -> Span | None:
        """The span a step's tool calls, generations and instant events belong to:
        the innermost open agent or node span at the step, else its flow."""
        for span in reversed(self._stacks.get((event.run_id, event.step), ())):
            if span.type in ("NodeExecutionSpan",) or span.kind == "agent":
                return span
        flow = self._open.get((event.run_id, "flow", event.step, ""))
        return flow or self._enclosing(event.run_id, event.step, ">", "flow")

    def _enclosing(self, run_id: str, step: str, separator: str, kind: str) -> Span | None:
        """The open span of ``kind`` whose step is the longest prefix of ``step``
        ending right before ``separator``."""
        index = step.rfind(separator)
        while index > 0:
            span = self._open.get((run_id, kind, step[:index], ""))
            if span is not None:
                return span
            index = step.rfind(separator, 0, index)
        return None

    # -- events -------------------------------------------------------------------------

    def _fields(self, values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        mask = self.mask_sensitive
        scrub = self.scrub if self.scrub else None
        for key, value in values.items():
            if value is None:
                out[key] = None
            elif mask and key in SENSITIVE_FIELDS:
                out[key] = MASK
            elif value.__class__ in _PLAIN or value.__class__ is Ref:
                out[key] = value
            elif value.__class__ is str:
                out[key] = value if scrub is None else scrub.text(value)
            else:
                jsonable = to_jsonable(value)
                out[key] = jsonable if scrub is None else scrub(jsonable)
        return out

    def ref(self, component: Any) -> Any:
        """A component's reference, cached (components outlive their runs)."""
        if isinstance(component, Component):
            return self._refs.get_or_make(component, lambda: _ref(component))
        return _ref(component)

    def _event(self, span: Span, event: RuntimeEvent, type_: str, values: dict[str, Any]) -> None:
        item = SpanEvent(
            id=f"e{next(self._event_ids)}",
            type=type_,
            timestamp=event.timestamp_ns,
            span_id=span.id,
            attributes=self._fields(values),
        )
        if self.keep_events:
            span.add_event(item)
        for processor in self.processors:
            self._call(processor, "on_event", item, span)

    def _instant(
        self, event: RuntimeEvent, type_: str, values: dict[str, Any], sensitive_all: bool = False
    ) -> None:
        span = self._owner(event)
        if span is None:
            return
        if sensitive_all and self.mask_sensitive:
            values = {key: MASK for key in values}
        self._event(span, event, type_, values)

    def _call(self, processor: SpanProcessor, method: str, *args: Any) -> None:
        try:
            getattr(processor, method)(*args)
        except Exception as exc:
            if id(processor) not in self._failed:
                self._failed.add(id(processor))
                warnings.warn(
                    f"span processor {type(processor).__name__}.{method} raised "
                    f"{describe(exc)}; the run goes on",
                    LoomWarning,
                    stacklevel=2,
                )

    # -- handlers, one per runtime event type ----------------------------------------------

    def _flow_start(self, event: RuntimeEvent) -> None:
        flow = event.data.get("flow")
        parent = self._enclosing(event.run_id, event.step, "/", "node")
        if parent is None:
            self._learn_secrets(flow)
        span = self._start(event, "flow", "", "FlowExecutionSpan", _name(flow, event),
                           {"flow": self.ref(flow)}, parent)
        self._event(span, event, "FlowExecutionStart",
                    {"flow": self.ref(flow), "inputs": event.data.get("inputs")})

    def _flow_end(self, event: RuntimeEvent) -> None:
        span = self._finish(event, "flow", "")
        if span is None:
            return
        error = event.data.get("error")
        values = {"flow": span.attributes.get("flow"), "outputs": event.data.get("outputs"),
                  "branch_selected": event.data.get("branch")}
        self._close(span, event, "FlowExecutionEnd", values, error)

    def _node_start(self, event: RuntimeEvent) -> None:
        node = event.data.get("node")
        parent = self._enclosing(event.run_id, event.step, ">", "flow")
        span = self._start(event, "node", "", "NodeExecutionSpan", _name(node, event),
                           {"node": self.ref(node)}, parent)
        self._event(span, event, "NodeExecutionStart",
                    {"node": self.ref(node), "inputs": event.data.get("inputs")})

    def _node_end(self, event: RuntimeEvent) -> None:
        span = self._finish(event, "node", "")
        if span is None:
            return
        values = {"node": span.attributes.get("node"), "outputs": event.data.get("outputs"),
                  "branch_selected": event.data.get("branch")}
        self._close(span, event, "NodeExecutionEnd", values, event.data.get("error"))

    def _close(
        self, span: Span, event: RuntimeEvent, type_: str, values: dict[str, Any], error: Any
    ) -> None:
        status = status_of(error)
        values = dict(values)
        values["status"] = status
        if status == ERROR:
            values["error_type"] = _error_type(error)
        self._event(span, event, type_, values)
        self._end(span, event.timestamp_ns, status, error)

    def _tool_start(self, event: RuntimeEvent) -> None:
        tool = event.data.get("tool")
        extra = str(event.data.get("request_id") or "")
        parent = self._owner(event)
        span = self._start(event, "tool", extra, "ToolExecutionSpan", _name(tool, event),
                           {"tool": self.ref(tool)}, parent)
        self._event(span, event, "ToolExecutionRequest",
                    {"tool": self.ref(tool), "request_id": span.id,
                     "inputs": event.data.get("inputs")})

    def _tool_end(self, event: RuntimeEvent) -> None:
        span = self._finish(event, "tool", str(event.data.get("request_id") or ""))
        if span is None:
            return
        values = {"tool": span.attributes.get("tool"), "request_id": span.id,
                  "outputs": event.data.get("outputs")}
        self._close(span, event, "ToolExecutionResponse", values, event.data.get("error"))

    def _llm_start(self, event: RuntimeEvent) -> None:
        llm = event.data.get("llm")
        extra = str(event.data.get("request_id") or "")
        parent = self._owner(event)
        attributes = {"llm_config": self.ref(llm), "model": event.data.get("model")}
        span = self._start(event, "llm", extra, "LlmGenerationSpan", _name(llm, event),
                           attributes, parent)
        prompt = [_message(m) for m in event.data.get("messages") or ()]
        self._event(span, event, "LlmGenerationRequest", {
            "llm_config": attributes["llm_config"],
            "request_id": span.id,
            "llm_generation_config": event.data.get("generation_config") or None,
            "prompt": prompt,
            "tools": list(event.data.get("tools") or ()),
        })

    def _llm_token(self, event: RuntimeEvent) -> None:
        span = self._finish(event, "llm", str(event.data.get("request_id") or ""))
        if span is None:
            return
        self._event(span, event, "LlmGenerationChunkReceived", {
            "llm_config": span.attributes.get("llm_config"),
            "request_id": span.id,
            "completion_id": None,
            "content": event.data.get("token", ""),
            "tool_calls": [],
        })

    def _llm_end(self, event: RuntimeEvent) -> None:
        span = self._finish(event, "llm", str(event.data.get("request_id") or ""))
        if span is None:
            return
        usage = event.data.get("usage") or {}
        values = {
            "llm_config": span.attributes.get("llm_config"),
            "request_id": span.id,
            "completion_id": None,
            "content": event.data.get("content"),
            "tool_calls": event.data.get("tool_calls"),
            "input_tokens": usage.get("prompt_tokens"),
            "output_tokens": usage.get("completion_tokens"),
            "finish_reason": event.data.get("finish_reason"),
        }
        self._close(span, event, "LlmGenerationResponse", values, event.data.get("error"))

    def _agent_start(self, event: RuntimeEvent) -> None:
        agent = event.data.get("agent")
        span_type, _, key = _agent_kind(agent)
        extra = str(getattr(agent, "id", "") or event.data.get("request_id") or "")
        parent = self._owner(event)
        if parent is None:
            self._learn_secrets(agent)
        span = self._start(event, "agent", extra, span_type, _name(agent, event),
                           {key: self.ref(agent)}, parent)
        self._event(span, event, _agent_kind(agent)[1] + "Start",
                    {key: self.ref(agent), "inputs": event.data.get("inputs")})

    def _agent_end(self, event: RuntimeEvent) -> None:
        agent = event.data.get("agent")
        extra = str(getattr(agent, "id", "") or event.data.get("request_id") or "")
        span = self._finish(event, "agent", extra)
        if span is None:
            return
        _, prefix, key = _agent_kind(agent)
        values = {key: span.attributes.get(key), "outputs": event.data.get("outputs")}
        self._close(span, event, prefix + "End", values, event.data.get("error"))

    def _message(self, event: RuntimeEvent) -> None:
        self._instant(event, "ConversationMessageAdded", {"message": event.data.get("message")})

    def _exception(self, event: RuntimeEvent) -> None:
        self._instant(event, "ExceptionRaised", {
            "exception_type": event.data.get("exception_type"),
            "exception_message": event.data.get("message"),
            "exception_stacktrace": None,
        })

    def _wait(self, event: RuntimeEvent) -> None:
        request = event.data.get("request")
        kind = getattr(request, "kind", None)
        request_id = getattr(request, "id", None)
        call = getattr(request, "tool_call", None) or {}
        if kind == "confirmation":
            self._instant(event, "ToolConfirmationRequest", {
                "tool": call.get("name"), "request_id": request_id,
                "tool_execution_request_id": None,
            })
        elif kind == "client_tool":
            self._instant(event, "ToolExecutionRequest", {
                "tool": call.get("name"), "request_id": request_id,
                "inputs": call.get("arguments"),
            })
        else:
            self._instant(event, "HumanInTheLoopRequest", {
                "request_id": request_id, "content": getattr(request, "prompt", None),
            })

    def _dropped(self, event: RuntimeEvent) -> None:
        """Events a backend no longer had when they were read (their count is no content)."""
        self._instant(event, "loom.EventsDropped", dict(event.data))


_HANDLERS = {
    "flow_start": SpanBuilder._flow_start,
    "flow_end": SpanBuilder._flow_end,
    "node_start": SpanBuilder._node_start,
    "node_end": SpanBuilder._node_end,
    "tool_start": SpanBuilder._tool_start,
    "tool_end": SpanBuilder._tool_end,
    "llm_start": SpanBuilder._llm_start,
    "llm_token": SpanBuilder._llm_token,
    "llm_end": SpanBuilder._llm_end,
    "agent_start": SpanBuilder._agent_start,
    "agent_end": SpanBuilder._agent_end,
    "message": SpanBuilder._message,
    "exception": SpanBuilder._exception,
    "wait": SpanBuilder._wait,
    "events_dropped": SpanBuilder._dropped,
}


def _ref(value: Any) -> Any:
    if isinstance(value, Component):
        return Ref(component_ref(value))
    if isinstance(value, str):
        return Ref({"component_type": None, "id": value, "name": value})
    return to_jsonable(value)


def _name(value: Any, event: RuntimeEvent) -> str:
    name = getattr(value, "name", None)
    if isinstance(name, str):
        return name
    if isinstance(value, str):
        return value
    return event.path[-1] if event.path else event.type


def _agent_kind(agent: Any) -> tuple[str, str, str]:
    return _AGENT_KINDS.get(getattr(agent, "component_type", ""), _AGENT_DEFAULT)


def _message(message: Any) -> dict[str, Any]:
    if isinstance(message, dict):
        return {
            "id": message.get("id"),
            "content": message.get("content"),
            "sender": message.get("sender") or message.get("name"),
            "role": message.get("role"),
        }
    return {"id": None, "content": message, "sender": None, "role": None}


def _error_type(error: Any) -> str:
    if isinstance(error, BaseException):
        return str(to_jsonable(error)["type"])
    return str(error)
