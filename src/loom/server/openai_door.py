"""The OpenAI-compatible door: ``GET /v1/models`` (the components) and
``POST /v1/chat/completions`` with ``model`` = a component id, streaming or not.

A chat whose last message is a user message starts a run (see
:mod:`loom.server.turns` for how its text becomes inputs and how the run's stop
becomes the reply); one that ends with tool messages answers the client tool
calls a run waits for, by their ids (a confirmation is a call of the pseudo-tool
``loom_confirm``, answered ``approve`` or ``deny``). Earlier turns of the chat are
an agent's conversation; a flow starts from the last message. Errors come in OpenAI's shape, which the
official clients read: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from loom.server.api import manager_of
from loom.server.catalog import Served
from loom.server.http import Json, body_object, token_of
from loom.server.problems import ApiError
from loom.server.turns import Reply, Turn, answer_value, history_of, split_call_id

Handler = Callable[[Request], Awaitable[Response]]


def openai_error(error: ApiError) -> Response:
    kind = "invalid_request_error" if error.status < 500 else "server_error"
    body = {"message": error.message, "type": kind, "param": error.where, "code": error.code}
    return Json({"error": body}, status_code=error.status, headers=error.headers)


def openai_errors(handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as error:
            return openai_error(error)
    return guarded


def served_model(request: Request, body: dict[str, Any]) -> Served:
    model = body.get("model")
    served = manager_of(request).catalog.get(model) if isinstance(model, str) else None
    if served is None:
        names = sorted(item.id for item in manager_of(request).catalog)
        raise ApiError(404, "model_not_found", f"no component {model!r}: model must be the id "
                       f"of a served component, one of {names}", where="model")
    return served


def content_text(content: Any, where: str) -> str:
    """A message's text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text") for part in content if isinstance(part, dict)]
        if all(isinstance(text, str) for text in texts):
            return "".join(str(text) for text in texts)
    raise ApiError(422, "invalid_request", "a message's content must be text or a list of "
                   "text parts", where=where)


def usage_of(turn: Turn) -> dict[str, int] | None:
    if turn.usage is None:
        return None
    prompt, completion = turn.usage["input"], turn.usage["output"]
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


async def list_models(request: Request) -> Response:
    return Json({"object": "list", "data": [
        {"id": served.id, "object": "model", "created": 0, "owned_by": "loom"}
        for served in manager_of(request).catalog]})


async def turn_of_chat(request: Request, served: Served, messages: Any) -> Turn:
    if not isinstance(messages, list) or not messages \
            or not all(isinstance(item, dict) for item in messages):
        raise ApiError(422, "invalid_request", "messages must be a non-empty list of message "
                       "objects", where="messages")
    manager, token = manager_of(request), token_of(request)
    last = messages[-1]
    where = f"messages[{len(messages) - 1}]"
    if last.get("role") == "tool":
        answers: dict[str, Any] = {}
        run_ids = set()
        index = len(messages) - 1
        while index >= 0 and messages[index].get("role") == "tool":
            item = messages[index]
            run_id, request_id = split_call_id(item.get("tool_call_id"),
                                               f"messages[{index}].tool_call_id")
            run_ids.add(run_id)
            answers[request_id] = answer_value(content_text(item.get("content"),
                                                            f"messages[{index}].content"))
            index -= 1
        if len(run_ids) > 1:
            raise ApiError(422, "invalid_request", "the tool messages answer calls of several "
                           "runs; answer one run's calls at a time", where=where)
        return await Turn.answer(manager, served, run_ids.pop(), answers, token)
    if last.get("role") != "user":
        raise ApiError(422, "invalid_request", "the last message must be a user message (it "
                       "starts a run) or tool messages (they answer its tool calls)",
                       where=f"{where}.role")
    text = content_text(last.get("content"), f"{where}.content")
    return await Turn.start(manager, served, text, token, f"{where}.content",
                            history=history_of(messages[:-1], "messages"))


def chat_message(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": call["id"], "type": "function",
             "function": {"name": call["name"], "arguments": call["arguments"]}}
            for call in reply.tool_calls]
    return message


async def chat_completions(request: Request) -> Response:
    body = await body_object(request)
    served = served_model(request, body)
    turn = await turn_of_chat(request, served, body.get("messages"))
    ident = f"chatcmpl-{uuid.uuid4().hex}"
    if body.get("stream") is True:
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        return StreamingResponse(_chat_stream(turn, ident, with_usage),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    reply = await turn.run()
    return Json({
        "id": ident, "object": "chat.completion", "created": int(time.time()),
        "model": served.id, "choices": [{
            "index": 0, "message": chat_message(reply),
            "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
        "usage": usage_of(turn), "loom": {"run_id": reply.run_id, "status": reply.status},
    })


def _data(value: Any) -> str:
    return f"data: {json.dumps(value, ensure_ascii=False)}\n\n"


async def _chat_stream(turn: Turn, ident: str, with_usage: bool) -> AsyncIterator[str]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return _data({"id": ident, "object": "chat.completion.chunk", "created": created,
                      "model": turn.served.id,
                      "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    yield chunk({"role": "assistant", "content": ""})
    sent: list[str] = []
    try:
        async for _, piece in turn:
            if turn.live:
                sent.append(piece)
                yield chunk({"content": piece})
        reply = turn.reply()
    except ApiError as error:
        yield _data(json.loads(bytes(openai_error(error).body)))
        return
    for piece in rest_of(turn, reply.text, "".join(sent)):
        yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        yield chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                     "function": {"name": call["name"],
                                                  "arguments": call["arguments"]}}]})
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if with_usage:
        yield _data({"id": ident, "object": "chat.completion.chunk", "created": created,
                     "model": turn.served.id, "choices": [], "usage": usage_of(turn)})
    yield "data: [DONE]\n\n"


def rest_of(turn: Turn, text: str, sent: str) -> list[str]:
    """The deltas still to send once the run stopped: the tokens of the LLM call
    the answer came from, else the text not yet sent as one delta."""
    if sent:
        return [text[len(sent):]] if text.startswith(sent) and text != sent else []
    pieces = turn.streamed(text)
    if pieces is not None:
        return pieces
    return [text] if text else []


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/models", openai_errors(list_models), methods=["GET"]),
        Route("/v1/chat/completions", openai_errors(chat_completions), methods=["POST"]),
    ]
