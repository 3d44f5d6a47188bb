"""OpenAI Responses API wire format, as the fake server reads and writes it.

A request is read into the chat-completions shape (messages, tools,
``response_format``) so that scripts, schema filling and token counts are
the same for both APIs; the answer is written back as a ``response`` object
or as its stream of typed events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

from loom.llm.responses_types import FunctionCall, OutputItem, ResponsesUsage
from loom.testing.replies import Answer
from loom.testing.wire import argument_pieces, split_words

_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


def chat_body(body: Any) -> dict[str, Any]:
    """The chat-completions request a Responses request amounts to; ValueError
    (answered with 400) says what a real server would refuse."""
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise ValueError("'model' is required")
    given = body.get("input")
    if isinstance(given, str):
        given = [{"type": "message", "role": "user", "content": given}]
    if not isinstance(given, list) or not given:
        raise ValueError("'input' must be a string or a non-empty list of items")
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": str(body["instructions"])})
    for index, item in enumerate(given):
        message = _message(index, item, messages)
        if message:
            messages.append(message)
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    tools = [_chat_tool(tool) for tool in body.get("tools") or ()]
    if tools:
        chat["tools"] = tools
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        spec = {key: fmt.get(key) for key in ("name", "schema", "strict")}
        chat["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    return chat


def _message(index: int, item: Any, before: list[dict[str, Any]]) -> dict[str, Any]:
    """One input item as a chat message; a function call joins the assistant
    message before it (``{}`` is then returned), so a turn stays one message."""
    kind = item.get("type", "message") if isinstance(item, dict) else None
    if kind == "message" and item.get("role") in _ROLES:
        return {"role": _ROLES[item["role"]], "content": item.get("content") or ""}
    if kind == "function_call_output" and item.get("call_id"):
        output = item.get("output")
        text = output if isinstance(output, str) else json.dumps(output)
        return {"role": "tool", "tool_call_id": item["call_id"], "content": text}
    if kind == "function_call" and item.get("call_id") and item.get("name"):
        call = {"id": item["call_id"], "type": "function",
                "function": {"name": item["name"], "arguments": item.get("arguments") or "{}"}}
        last = before[-1] if before else {}
        if last.get("role") == "assistant":
            last.setdefault("tool_calls", []).append(call)
            return {}
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    raise ValueError(f"input[{index}] is not a message, function_call or function_call_output")


def _chat_tool(tool: Any) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type") != "function" or not tool.get("name"):
        raise ValueError("every tool must be {'type': 'function', 'name': ...}")
    function = {key: tool[key] for key in ("name", "description", "parameters") if key in tool}
    return {"type": "function", "function": function}


def usage(counts: Mapping[str, int]) -> ResponsesUsage:
    """The chat counts of :func:`loom.testing.wire.usage` under the Responses names."""
    return {
        "input_tokens": counts["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": counts["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": counts["total_tokens"],
    }


def output_items(answer: Answer, ident: str) -> list[OutputItem]:
    items: list[OutputItem] = []
    if answer.text or not answer.tool_calls:
        items.append({"type": "message", "id": f"msg_{ident}", "role": "assistant",
                      "status": "completed",
                      "content": [{"type": "output_text", "text": answer.text, "annotations": []}]})
    items += [_function_call(call, f"fc_{ident}_{i}") for i, call in enumerate(answer.tool_calls)]
    return items


def _function_call(call: Mapping[str, Any], item_id: str) -> FunctionCall:
    function = call["function"]
    return {"type": "function_call", "id": item_id, "call_id": call["id"], "status": "completed",
            "name": function["name"], "arguments": function["arguments"]}


def response_object(
    answer: Answer, *, model: str, ident: str, counts: Mapping[str, int] | None,
    status: str = "completed", output: list[OutputItem] | None = None,
) -> dict[str, Any]:
    """A ``response`` object (``counts`` None: in progress, no usage yet)."""
    return {
        "id": ident, "object": "response", "created_at": int(time.time()), "model": model,
        "status": status, "error": None, "incomplete_details": None, "instructions": None,
        "output": output_items(answer, ident) if output is None else output,
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "usage": None if counts is None else usage(counts),
    }


def events(
    answer: Answer, *, model: str, ident: str, counts: Mapping[str, int]
) -> Iterator[dict[str, Any]]:
    """The typed events of a streamed answer, each with its ``sequence_number``:
    created, per item added/deltas/done, completed (with the whole response)."""
    head = response_object(answer, model=model, ident=ident, counts=None,
                           status="in_progress", output=[])
    steps: list[dict[str, Any]] = [{"type": "response.created", "response": head},
                                   {"type": "response.in_progress", "response": head}]
    for index, item in enumerate(output_items(answer, ident)):
        if item["type"] == "message":
            steps += _message_events(index, item["id"], answer.text)
        else:
            steps += _call_events(index, item)
    steps.append({"type": "response.completed", "response": response_object(
        answer, model=model, ident=ident, counts=counts)})
    for number, step in enumerate(steps):
        yield {**step, "sequence_number": number}


def _message_events(index: int, item_id: str, text: str) -> list[dict[str, Any]]:
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": item_id, "output_index": index, "content_index": 0}
    item = {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress",
            "content": []}
    done = {**item, "status": "completed", "content": [{**part, "text": text}]}
    return [
        {"type": "response.output_item.added", "output_index": index, "item": item},
        {"type": "response.content_part.added", **where, "part": part},
        *({"type": "response.output_text.delta", **where, "delta": word, "logprobs": []}
          for word in split_words(text)),
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": {**part, "text": text}},
        {"type": "response.output_item.done", "output_index": index, "item": done},
    ]


def _call_events(index: int, item: Mapping[str, Any]) -> list[dict[str, Any]]:
    where = {"item_id": item["id"], "output_index": index}
    return [
        {"type": "response.output_item.added", "output_index": index,
         "item": {**item, "arguments": "", "status": "in_progress"}},
        *({"type": "response.function_call_arguments.delta", **where, "delta": piece}
          for piece in argument_pieces(item["arguments"])),
        {"type": "response.function_call_arguments.done", **where,
         "arguments": item["arguments"]},
        {"type": "response.output_item.done", "output_index": index, "item": dict(item)},
    ]


def sse_event(event: Mapping[str, Any]) -> bytes:
    """``event: TYPE`` and ``data: JSON``, as OpenAI sends each Responses event."""
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
