"""Build a Responses API body from the chat-shaped messages and tools loom keeps.

The runtime speaks chat completions everywhere (messages, ``tool_calls``,
``tool_call_id``); only the wire differs, so the conversion happens here, at
the last moment, and the call ids of the conversation are the ``call_id`` s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from loom.llm.endpoint import LlmEndpoint
from loom.llm.parsing import content_text
from loom.llm.request import build_chat_body
from loom.llm.responses_types import FunctionTool, InputItem, ResponsesRequest

# Generation parameters named otherwise by the Responses API.
_RENAMED = {"max_tokens": "max_output_tokens", "max_completion_tokens": "max_output_tokens"}
_CHAT_ONLY = ("messages", "response_format", "tools", "stream_options")


def build_responses_body(
    endpoint: LlmEndpoint, messages: Sequence[Mapping[str, Any]], **options: Any
) -> dict[str, Any]:
    """What :func:`build_chat_body` asks, with the same options, in Responses words."""
    return responses_body(build_chat_body(endpoint, messages, **options))


def responses_body(chat: Mapping[str, Any]) -> dict[str, Any]:
    """A chat-completions body as a Responses one. ``store`` is off unless the
    parameters say otherwise: loom sends the whole conversation each time."""
    body = {_RENAMED.get(key, key): value for key, value in chat.items()
            if key not in _CHAT_ONLY}
    body.setdefault("store", False)
    request = cast(ResponsesRequest, body)
    request["input"] = input_items(chat["messages"])
    if "response_format" in chat:
        spec = chat["response_format"]["json_schema"]
        request["text"] = {"format": {"type": "json_schema", "name": spec["name"],
                                      "schema": spec["schema"], "strict": spec["strict"]}}
    if chat.get("tools"):
        request["tools"] = [function_tool(tool) for tool in chat["tools"]]
    return body


def function_tool(tool: Mapping[str, Any]) -> FunctionTool:
    """A chat ``{"type": "function", "function": {...}}`` tool, flattened."""
    function = tool.get("function", tool)
    return {"type": "function", "name": str(function["name"]),
            "description": function.get("description"),
            "parameters": function.get("parameters"), "strict": False}


def input_items(messages: Sequence[Mapping[str, Any]]) -> list[InputItem]:
    """Messages become message items; an assistant's tool calls, ``function_call``
    items; tool results, ``function_call_output`` items with the same call id."""
    items: list[InputItem] = []
    for message in messages:
        role = message.get("role")
        text = content_text(message.get("content"))
        if role == "tool":
            items.append({"type": "function_call_output",
                          "call_id": str(message.get("tool_call_id")), "output": text})
            continue
        calls = message.get("tool_calls") or ()
        if text or not calls:
            items.append({"type": "message", "role": role, "content": text})  # type: ignore[typeddict-item]
        for call in calls:
            function = call.get("function") or {}
            items.append({"type": "function_call", "call_id": str(call["id"]),
                          "name": str(function.get("name", "")),
                          "arguments": function.get("arguments") or "{}"})
    return items
