"""Turn Responses API bodies (a response object, or its stream of events) into
:class:`LlmResponse`, with the same notion of "valid" as the chat side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loom.llm.parsing import MalformedResponse, arguments_text, error_text, usage_counts
from loom.llm.response import LlmResponse, ToolCall
from loom.llm.responses_types import USAGE_NAMES

END_EVENTS = ("response.completed", "response.incomplete")
"""A stream ends with one of these (or ``response.failed``); there is no ``[DONE]``."""


def parse_response(data: Any) -> LlmResponse:
    """Read a ``response`` object: text of its messages, its function calls
    (``call_id`` kept as the call id), usage under loom's names."""
    if not isinstance(data, dict):
        raise MalformedResponse(f"expected a JSON object, got {type(data).__name__}")
    if data.get("error"):
        raise MalformedResponse(f"server reported an error: {error_text(data['error'])}")
    output = data.get("output")
    if not isinstance(output, list):
        raise MalformedResponse("the body has no 'output' list")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for index, item in enumerate(output):
        if not isinstance(item, dict):
            raise MalformedResponse(f"output[{index}] is not an object")
        if item.get("type") == "message":
            texts += [str(part.get("text", "")) for part in item.get("content") or ()
                      if isinstance(part, dict) and part.get("type") == "output_text"]
        elif item.get("type") == "function_call":
            if not item.get("name"):
                raise MalformedResponse(f"output[{index}] is a function call without a name")
            calls.append(ToolCall(
                id=str(item.get("call_id") or item.get("id") or f"call_{len(calls)}"),
                name=str(item["name"]), arguments=arguments_text(item.get("arguments")),
            ))
        # Reasoning and other items carry nothing loom keeps.
    return LlmResponse(
        text="".join(texts), tool_calls=calls, finish_reason=_finish_reason(data, calls),
        usage=usage(data.get("usage")), raw=data,
    )


def usage(value: Any) -> dict[str, int]:
    """``input_tokens``/``output_tokens`` as ``prompt_tokens``/``completion_tokens``."""
    return {USAGE_NAMES.get(key, key): count for key, count in usage_counts(value).items()}


def _finish_reason(data: dict[str, Any], calls: list[ToolCall]) -> str:
    if calls:
        return "tool_calls"
    if data.get("status") == "incomplete":
        reason = (data.get("incomplete_details") or {}).get("reason")
        return "length" if reason == "max_output_tokens" else str(reason or "incomplete")
    return "stop"


@dataclass
class ResponsesAssembler:
    """Accumulate streamed events; the final response object is the answer, with the
    items and text deltas seen on the way for servers whose final object is bare."""

    text_parts: list[str] = field(default_factory=list)
    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    final: dict[str, Any] | None = None
    events: list[Any] = field(default_factory=list)

    @property
    def finish_reason(self) -> str | None:
        return None if self.final is None else str(self.final.get("status") or "completed")

    @property
    def ended(self) -> bool:
        return self.final is not None

    def feed(self, event: Any) -> str:
        """Take one decoded event; return its text delta ("" if none)."""
        if not isinstance(event, dict):
            raise MalformedResponse(f"stream event is not an object: {event!r:.120}")
        self.events.append(event)
        kind = event.get("type")
        if kind == "response.output_text.delta":
            delta = str(event.get("delta") or "")
            self.text_parts.append(delta)
            return delta
        if kind in ("response.output_item.added", "response.output_item.done"):
            if isinstance(event.get("item"), dict):
                self.items[_index(event, len(self.items))] = dict(event["item"])
        elif kind == "response.function_call_arguments.delta":
            item = self.items.get(_index(event, -1))
            if item is not None:
                item["arguments"] = str(item.get("arguments") or "") + str(event.get("delta") or "")
        elif kind == "error":
            raise MalformedResponse(f"server reported an error: {error_text(event)}")
        elif kind == "response.failed":
            failed = event.get("response") or {}
            raise MalformedResponse(f"server reported an error: {error_text(failed.get('error'))}")
        elif kind in END_EVENTS:
            if not isinstance(event.get("response"), dict):
                raise MalformedResponse(f"the {kind} event has no response object")
            self.final = event["response"]
        return ""

    def result(self) -> LlmResponse:
        data = dict(self.final or {})
        if not data.get("output"):
            data["output"] = [self.items[index] for index in sorted(self.items)]
        answer = parse_response(data)
        if not answer.text and self.text_parts:
            answer.text = "".join(self.text_parts)
        answer.raw = self.events
        return answer


def _index(event: dict[str, Any], default: int) -> int:
    index = event.get("output_index")
    return index if isinstance(index, int) else default
