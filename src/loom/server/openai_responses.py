"""``POST /v1/responses``: the Responses API door, streaming or not.

A response's id carries its run's id (``resp_<nonce>_<run id>``), so
``previous_response_id`` finds the run in the store, after a restart too: the
new input answers what that run waits for (its question, or its client tool
calls by ``function_call_output``; a confirmation, a ``loom_confirm`` call, by
one too, or by a user message: approve or deny)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from loom.llm.responses_types import FunctionCall, OutputMessage, ResponsesUsage
from loom.server.api import manager_of
from loom.server.catalog import Served
from loom.server.http import Json, body_object, token_of
from loom.server.openai_door import (
    content_text,
    openai_error,
    openai_errors,
    rest_of,
    served_model,
)
from loom.server.problems import ApiError
from loom.server.turns import Reply, Turn, answer_value, history_of, split_call_id


def response_id(run_id: str) -> str:
    return f"resp_{uuid.uuid4().hex[:12]}_{run_id}"


def run_of_response(text: Any) -> str:
    prefix, _, rest = str(text).partition("_")
    run_id = rest.partition("_")[2]
    if prefix != "resp" or not run_id:
        raise ApiError(422, "invalid_request", f"previous_response_id {text!r} is no response "
                       "id of this server", where="previous_response_id")
    return run_id


def input_items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return value
    raise ApiError(422, "invalid_request", "input must be text or a non-empty list of input "
                   "items", where="input")


def tool_answers(items: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    """The run and answers the ``function_call_output`` items give."""
    run_ids, answers = set(), {}
    for index, item in enumerate(items):
        if item.get("type") != "function_call_output":
            continue
        run_id, request_id = split_call_id(item.get("call_id"), f"input[{index}].call_id")
        run_ids.add(run_id)
        output = item.get("output")
        answers[request_id] = answer_value(output) if isinstance(output, str) else output
    if len(run_ids) > 1:
        raise ApiError(422, "invalid_request", "the function_call_output items answer calls of "
                       "several runs; answer one run's calls at a time", where="input")
    return (run_ids.pop() if run_ids else None), answers


def earlier_turns(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The message items before the last user message (an agent's earlier turns)."""
    last = max((index for index, item in enumerate(items)
                if item.get("type", "message") == "message" and item.get("role") == "user"),
               default=0)
    return history_of(items[:last], "input")


def user_text(items: list[dict[str, Any]]) -> str:
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if item.get("type", "message") == "message" and item.get("role") == "user":
            return content_text(item.get("content"), f"input[{index}].content")
    raise ApiError(422, "invalid_request", "input has no user message (nor function_call_output "
                   "items) to run on", where="input")


async def turn_of(request: Request, served: Served, body: dict[str, Any]) -> Turn:
    manager, token = manager_of(request), token_of(request)
    items = input_items(body.get("input"))
    tool_run, answers = tool_answers(items)
    previous = body.get("previous_response_id")
    if previous is None:
        if tool_run is not None:
            return await Turn.answer(manager, served, tool_run, answers, token)
        return await Turn.start(manager, served, user_text(items), token, "input",
                                history=earlier_turns(items))
    run_id = run_of_response(previous)
    if tool_run is not None and tool_run != run_id:
        raise ApiError(422, "invalid_request", "the function_call_output items answer calls of "
                       "another response than previous_response_id", where="input")
    record = await manager.record(run_id)
    if record.get("component") != served.id:
        raise ApiError(422, "invalid_request", f"previous_response_id belongs to model "
                       f"{record.get('component')!r}, not {served.id!r}", where="model")
    if record["status"] != "waiting":
        raise ApiError(409, "conversation_over", f"the conversation of {previous} is "
                       f"{record['status']}, it waits for nothing; start a new one without "
                       "previous_response_id", where="previous_response_id")
    if not answers:
        pending = record.get("pending") or []
        asks = [item for item in pending if item["kind"] == "input"] or \
            [item for item in pending if item["kind"] == "confirmation"]
        if not asks:
            raise ApiError(409, "tool_outputs_needed", f"the run of {previous} waits for the "
                           "results of its function calls: send function_call_output items",
                           where="input")
        answers = {asks[0]["id"]: user_text(items)}  # a confirmation: approve or deny
    return await Turn.answer(manager, served, run_id, answers, token)


def usage_of(turn: Turn) -> ResponsesUsage | None:
    if turn.usage is None:
        return None
    given, made = turn.usage["input"], turn.usage["output"]
    return {"input_tokens": given, "output_tokens": made, "total_tokens": given + made,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0}}


def message_item(ident: str, text: str, status: str = "completed") -> OutputMessage:
    return {"type": "message", "id": f"msg_{ident}", "role": "assistant", "status": status,
            "content": [{"type": "output_text", "text": text, "annotations": []}]
            if status == "completed" else []}


def call_items(reply: Reply, ident: str) -> list[FunctionCall]:
    return [{"type": "function_call", "id": f"fc_{ident}_{index}", "call_id": call["id"],
             "name": call["name"], "arguments": call["arguments"], "status": "completed"}
            for index, call in enumerate(reply.tool_calls)]


def response_object(turn: Turn, ident: str, served: Served, output: list[Any],
                    status: str = "completed") -> dict[str, Any]:
    return {
        "id": ident, "object": "response", "created_at": int(time.time()), "model": served.id,
        "status": status, "error": None, "incomplete_details": None, "instructions": None,
        "output": output, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "usage": usage_of(turn) if status == "completed" else None,
        "metadata": {"loom_run_id": turn.run_id},
    }


async def responses(request: Request) -> Response:
    body = await body_object(request)
    served = served_model(request, body)
    turn = await turn_of(request, served, body)
    ident = response_id(turn.run_id)
    if body.get("stream") is True:
        return StreamingResponse(_stream(turn, ident), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    reply = await turn.run()
    output: list[Any] = call_items(reply, ident)
    if reply.text or not reply.tool_calls:
        output.insert(0, message_item(ident, reply.text))
    return Json(response_object(turn, ident, served, output))


async def _stream(turn: Turn, ident: str) -> AsyncIterator[str]:
    number = 0

    def event(kind: str, **fields: Any) -> str:
        nonlocal number
        number += 1
        data = {"type": kind, **fields, "sequence_number": number - 1}
        return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

    where = {"item_id": f"msg_{ident}", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "", "annotations": []}
    opened = False

    def open_message() -> list[str]:
        return [event("response.output_item.added", output_index=0,
                      item=message_item(ident, "", "in_progress")),
                event("response.content_part.added", **where, part=part)]

    head = response_object(turn, ident, turn.served, [], "in_progress")
    yield event("response.created", response=head)
    yield event("response.in_progress", response=head)
    sent: list[str] = []
    try:
        async for _, piece in turn:
            if turn.live:
                if not opened:
                    opened = True
                    for line in open_message():
                        yield line
                sent.append(piece)
                yield event("response.output_text.delta", **where, delta=piece, logprobs=[])
        reply = turn.reply()
    except ApiError as error:
        body = json.loads(bytes(openai_error(error).body))["error"]
        yield event("error", code=body["code"], message=body["message"], param=body["param"])
        return
    output: list[Any] = []
    if reply.text or not reply.tool_calls or opened:
        if not opened:
            for line in open_message():
                yield line
        for piece in rest_of(turn, reply.text, "".join(sent)):
            yield event("response.output_text.delta", **where, delta=piece, logprobs=[])
        yield event("response.output_text.done", **where, text=reply.text, logprobs=[])
        yield event("response.content_part.done", **where, part={**part, "text": reply.text})
        output.append(message_item(ident, reply.text))
        yield event("response.output_item.done", output_index=0, item=output[0])
    for item in call_items(reply, ident):
        index = len(output)
        output.append(item)
        yield event("response.output_item.added", output_index=index, item=item)
        yield event("response.output_item.done", output_index=index, item=item)
    yield event("response.completed", response=response_object(turn, ident, turn.served, output))


def routes() -> list[BaseRoute]:
    return [Route("/v1/responses", openai_errors(responses), methods=["POST"])]
