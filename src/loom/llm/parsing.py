"""Turn chat-completions bodies (whole or streamed) into :class:`LlmResponse`.

Parsing is kept apart from HTTP so both paths share one notion of "valid".
Problems raise :class:`MalformedResponse`; the client adds URL and model.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from loom.llm.response import LlmResponse, ToolCall

DONE = "[DONE]"


class MalformedResponse(Exception):
    """The body is not what an OpenAI-compatible server sends."""


def decode_json(text: str, what: str) -> Any:
    """Decode JSON or say, briefly, what came instead."""
    try:
        return json.loads(text)
    except ValueError:
        shown = " ".join(text.split())[:120]
        raise MalformedResponse(f"{what} is not JSON: {shown!r}") from None


def parse_completion(data: Any) -> LlmResponse:
    """Read a non-streaming ``chat.completion`` object."""
    choice = _first_choice(data)
    message = choice.get("message")
    if not isinstance(message, dict):
        raise MalformedResponse("choices[0] has no 'message' object")
    calls = [_tool_call(i, item) for i, item in enumerate(message.get("tool_calls") or [])]
    return LlmResponse(
        text=content_text(message.get("content")),
        tool_calls=calls,
        finish_reason=choice.get("finish_reason"),
        usage=usage_counts(data.get("usage")),
        raw=data,
    )


def content_text(content: Any) -> str:
    """Content may be a string, null, or a list of typed parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    raise MalformedResponse(f"message content has unexpected type {type(content).__name__}")


def usage_counts(usage: Any) -> dict[str, int]:
    """Keep the integer counts of a ``usage`` object (nested details dropped)."""
    if not isinstance(usage, dict):
        return {}
    return {k: v for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)}


def _first_choice(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MalformedResponse(f"expected a JSON object, got {type(data).__name__}")
    if "error" in data and "choices" not in data:
        raise MalformedResponse(f"server reported an error: {error_text(data['error'])}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse("the body has no 'choices'")
    return choices[0]


def error_text(error: Any) -> str:
    if isinstance(error, dict) and "message" in error:
        return str(error["message"])[:300]
    return str(error)[:300]


def _tool_call(index: int, item: Any) -> ToolCall:
    if not isinstance(item, dict):
        raise MalformedResponse(f"tool_calls[{index}] is not an object")
    function = item.get("function")
    if not isinstance(function, dict) or not function.get("name"):
        raise MalformedResponse(f"tool_calls[{index}] has no function name")
    return ToolCall(
        id=str(item.get("id") or f"call_{index}"),
        name=str(function["name"]),
        arguments=arguments_text(function.get("arguments")),
    )


def arguments_text(arguments: Any) -> str:
    # Some servers send an object instead of the JSON string OpenAI specifies.
    if arguments is None:
        return "{}"
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments)


async def sse_data(lines: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    """Yield the ``data`` payload of each server-sent event.

    Multi-line data is joined with newlines; comments and other fields
    (``event:``, ``id:``, ``retry:``) are skipped.
    """
    buffer: list[str] = []
    async for line in lines:
        if not line:
            if buffer:
                yield "\n".join(buffer)
                buffer = []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            buffer.append(value[1:] if value.startswith(" ") else value)
    if buffer:
        yield "\n".join(buffer)


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class StreamAssembler:
    """Accumulate ``chat.completion.chunk`` objects into one response."""

    text_parts: list[str] = field(default_factory=list)
    calls: dict[int, _PartialCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    chunks: list[Any] = field(default_factory=list)
    ended: bool = False  # never: this stream ends with [DONE], not with a chunk

    def feed(self, chunk: Any) -> str:
        """Take one decoded chunk; return its text delta ("" if none)."""
        if not isinstance(chunk, dict):
            raise MalformedResponse(f"stream chunk is not an object: {chunk!r:.120}")
        if "error" in chunk:
            raise MalformedResponse(f"server reported an error: {error_text(chunk['error'])}")
        self.chunks.append(chunk)
        if chunk.get("usage"):
            self.usage = usage_counts(chunk["usage"])
        choices = chunk.get("choices")
        if not choices:
            return ""  # e.g. the final usage-only chunk
        choice = choices[0]
        if not isinstance(choice, dict):
            raise MalformedResponse("stream chunk choice is not an object")
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
        delta = choice.get("delta") or {}
        for item in delta.get("tool_calls") or []:
            self._feed_call(item)
        text = content_text(delta.get("content"))
        if text:
            self.text_parts.append(text)
        return text

    def _feed_call(self, item: Any) -> None:
        if not isinstance(item, dict):
            raise MalformedResponse("tool call delta is not an object")
        index = item.get("index", len(self.calls))
        partial = self.calls.setdefault(index, _PartialCall())
        if item.get("id"):
            partial.id = str(item["id"])
        function = item.get("function") or {}
        name = str(function.get("name") or "")
        if name and name != partial.name:
            # OpenAI sends the name once; tolerate servers that split or repeat it.
            partial.name += name
        if function.get("arguments"):
            partial.arguments.append(arguments_text(function["arguments"]))

    def result(self) -> LlmResponse:
        """The assembled response; tool calls in index order."""
        calls = []
        for position, index in enumerate(sorted(self.calls)):
            partial = self.calls[index]
            if not partial.name:
                raise MalformedResponse(f"streamed tool call {index} has no function name")
            calls.append(
                ToolCall(
                    id=partial.id or f"call_{position}",
                    name=partial.name,
                    arguments="".join(partial.arguments) or "{}",
                )
            )
        return LlmResponse(
            text="".join(self.text_parts),
            tool_calls=calls,
            finish_reason=self.finish_reason,
            usage=self.usage,
            raw=self.chunks,
        )
