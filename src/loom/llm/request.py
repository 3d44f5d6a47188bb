"""Build the JSON body of a chat-completions request."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from loom.llm.endpoint import LlmEndpoint

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def response_format(schema: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI ``response_format`` asking for JSON that follows ``schema``.

    ``strict`` stays off: strict mode rejects common schemas (optional fields,
    open objects) on several servers.
    """
    title = str(schema.get("title") or "")
    name = _NAME_UNSAFE.sub("_", title).strip("_")[:64] or "response"
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": dict(schema), "strict": False},
    }


def build_chat_body(
    endpoint: LlmEndpoint,
    messages: Sequence[Mapping[str, Any]],
    *,
    response_schema: Mapping[str, Any] | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    stream: bool = False,
) -> dict[str, Any]:
    """Generation parameters pass through; ``None`` values are left out."""
    body: dict[str, Any] = {
        key: value for key, value in endpoint.generation_params.items() if value is not None
    }
    body["model"] = endpoint.model
    body["messages"] = [dict(message) for message in messages]
    if response_schema is not None:
        body["response_format"] = response_format(response_schema)
    if tools:
        body["tools"] = [dict(tool) for tool in tools]
        # OpenAI's default, said aloud: llama.cpp's server ignores tools without it.
        body.setdefault("tool_choice", "auto")
    if stream:
        body["stream"] = True
        # Ask for token counts in a last chunk (OpenAI, vLLM, Ollama send them on request).
        body["stream_options"] = {"include_usage": True}
    return body
