"""OpenAI chat-completions wire format, as the fake server writes it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from loom.testing.replies import Answer, message_text

_WORD_START = re.compile(r"(?<=\s)(?=\S)")


def split_words(text: str) -> list[str]:
    """Pieces of about one word each, whitespace kept, so ``"".join`` gives ``text`` back."""
    return [piece for piece in _WORD_START.split(text) if piece]


def usage(messages: Sequence[Mapping[str, Any]], answer: Answer) -> dict[str, int]:
    """Token counts approximated by whitespace-separated words (deterministic)."""
    prompt = sum(len(message_text(m).split()) for m in messages)
    completion = len(answer.text.split()) + sum(
        len(call["function"]["arguments"].split()) + 1 for call in answer.tool_calls
    )
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion(answer: Answer, *, model: str, ident: str, counts: dict[str, int]) -> dict[str, Any]:
    """A ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.text or None}
    if answer.tool_calls:
        message["tool_calls"] = answer.tool_calls
    elif message["content"] is None:
        message["content"] = ""
    return {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason}],
        "usage": counts,
    }


def chunks(
    answer: Answer, *, model: str, ident: str, counts: dict[str, int] | None
) -> Iterator[dict[str, Any]]:
    """``chat.completion.chunk`` objects: role, words, tool-call deltas, finish, usage."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for word in split_words(answer.text):
        yield chunk({"content": word})
    for index, call in enumerate(answer.tool_calls):
        head = {"name": call["function"]["name"], "arguments": ""}
        yield chunk(
            {
                "tool_calls": [
                    {"index": index, "id": call["id"], "type": "function", "function": head}
                ]
            }
        )
        for piece in argument_pieces(call["function"]["arguments"]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, answer.finish_reason)
    if counts is not None:
        yield {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": counts,
        }


def argument_pieces(arguments: str, size: int = 8) -> list[str]:
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


def sse_event(data: Mapping[str, Any] | str) -> bytes:
    """One ``data: ...`` event with its blank-line terminator."""
    text = data if isinstance(data, str) else json.dumps(data)
    return f"data: {text}\n\n".encode()


def error_body(message: str, *, kind: str, code: int | str | None = None) -> dict[str, Any]:
    """OpenAI-style error object."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
