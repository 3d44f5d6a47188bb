"""The fake server's ASGI app: chat completions, responses, models, injected failures."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from loom.testing import responses_wire, wire
from loom.testing.fake_state import Failure, FakeLlmState, RecordedRequest

HANG_SECONDS = 3600.0
"""How long a ``timeout`` failure holds a request: longer than any client timeout."""

LATENCY_HEADER = "x-fake-latency"
FAIL_HEADER = "x-fake-fail"


_SSE = "text/event-stream"
_WORDS = "".join(
    wire.sse_event({"choices": [{"index": 0, "delta": {"content": "x" * 1000}}]}).decode()
    for _ in range(64)
).encode()
ENDLESS: dict[str, tuple[bytes, bytes, float | None, str]] = {
    # kind: first bytes, the piece repeated without end, seconds between pieces
    # (None: the failure's interval), content type
    "endless_json": (
        b'{"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "',
        b"x" * 65536, 0.0, "application/json",
    ),
    "endless_sse": (_WORDS, _WORDS, 0.0, _SSE),
    "keepalive": (b": keep-alive\n\n", b": keep-alive\n\n", None, _SSE),
    "trickle": (b"{", b" ", None, "application/json"),
}


def create_app(state: FakeLlmState) -> Starlette:
    """Routes with and without the ``/v1`` prefix, like most compatible servers."""
    handler = _Handler(state)
    return Starlette(
        routes=[
            Route("/v1/chat/completions", handler.chat, methods=["POST"]),
            Route("/chat/completions", handler.chat, methods=["POST"]),
            Route("/v1/responses", handler.responses, methods=["POST"]),
            Route("/responses", handler.responses, methods=["POST"]),
            Route("/v1/models", handler.models, methods=["GET"]),
            Route("/models", handler.models, methods=["GET"]),
        ]
    )


class _Handler:
    def __init__(self, state: FakeLlmState) -> None:
        self.state = state

    async def models(self, request: Request) -> Response:
        data = [{"id": m, "object": "model", "owned_by": "loom"} for m in self.state.models]
        return JSONResponse({"object": "list", "data": data})

    async def chat(self, request: Request) -> Response:
        return await self._serve(request, self._answer)

    async def responses(self, request: Request) -> Response:
        return await self._serve(request, self._answer_responses)

    async def _serve(
        self, request: Request, answer: Callable[[dict[str, Any], RecordedRequest], Response]
    ) -> Response:
        """Record, inject the failure or latency asked for, refuse fields; then answer."""
        raw = await request.body()
        peer = f"{request.client.host}:{request.client.port}" if request.client else None
        record = self.state.record(request.url.path, _decode(raw), request.headers, peer)
        try:
            failure = _header_failure(request) or self.state.take_failure()
            latency = _header_latency(request, self.state.latency)
        except ValueError as exc:
            return _finish(record, _error(400, str(exc)))
        if failure is not None and failure.kind == "timeout":
            return _finish(record, await self._hang(request))
        if latency > 0:
            await asyncio.sleep(latency)
        if failure is not None and failure.kind in ENDLESS:
            return self._endless(failure, record)
        if failure is not None:
            return _finish(record, _failure_response(failure))
        body = record.body
        if not isinstance(body, dict):
            return _finish(record, _error(400, "the request body must be a JSON object"))
        problem = _refused(body, self.state.refused_fields)
        return _finish(record, _error(400, problem)) if problem else answer(body, record)

    def _answer(self, body: dict[str, Any], record: RecordedRequest) -> Response:
        problem = _problem(body)
        if problem:
            return _finish(record, _error(400, problem))
        answer = self.state.answer(body)
        ident = self.state.next_id()
        counts = wire.usage(body["messages"], answer)
        if not body.get("stream"):
            payload = wire.completion(answer, model=body["model"], ident=ident, counts=counts)
            return _finish(record, JSONResponse(payload))
        options = body.get("stream_options") or {}
        chunks = wire.chunks(
            answer,
            model=body["model"],
            ident=ident,
            counts=counts if options.get("include_usage") else None,
        )
        events = itertools.chain(map(wire.sse_event, chunks), [wire.sse_event("[DONE]")])
        return StreamingResponse(_events(events, record), media_type=_SSE)

    def _answer_responses(self, body: dict[str, Any], record: RecordedRequest) -> Response:
        """The same answer as to the chat request this amounts to; scripts see that one."""
        try:
            chat = responses_wire.chat_body(body)
        except ValueError as exc:
            return _finish(record, _error(400, str(exc)))
        answer = self.state.answer(chat)
        ident = self.state.next_id("resp_fake_")
        counts = wire.usage(chat["messages"], answer)
        if not body.get("stream"):
            payload = responses_wire.response_object(
                answer, model=body["model"], ident=ident, counts=counts)
            return _finish(record, JSONResponse(payload))
        steps = responses_wire.events(answer, model=body["model"], ident=ident, counts=counts)
        events = map(responses_wire.sse_event, steps)
        return StreamingResponse(_events(events, record), media_type=_SSE)

    def _endless(self, failure: Failure, record: RecordedRequest) -> Response:
        head, piece, interval, media = ENDLESS[failure.kind]
        if interval is None:
            interval = failure.interval

        async def body() -> AsyncIterator[bytes]:
            chunk = head
            try:
                while not self.state.stopping.is_set():
                    record.sent += len(chunk)
                    yield chunk
                    chunk = piece
                    await asyncio.sleep(interval)
            finally:
                record.finish(200)

        return StreamingResponse(body(), media_type=media)

    async def _hang(self, request: Request) -> Response:
        deadline = time.monotonic() + HANG_SECONDS
        while time.monotonic() < deadline and not self.state.stopping.is_set():
            if await request.is_disconnected():
                break
            await asyncio.sleep(0.05)
        return _error(504, "injected timeout")


async def _events(events: Iterable[bytes], record: RecordedRequest) -> AsyncIterator[bytes]:
    try:
        for event in events:
            yield event
            await asyncio.sleep(0)  # let other streams interleave, as a real server would
    finally:
        record.finish(200)


def _finish(record: RecordedRequest, response: Response) -> Response:
    record.finish(response.status_code)
    return response


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _problem(body: dict[str, Any]) -> str | None:
    """What a real server would reject with 400, or ``None``."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "'model' is required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list"
    if not all(isinstance(m, dict) and "role" in m for m in messages):
        return "every message needs a 'role'"
    return None


def _refused(body: dict[str, Any], refused: frozenset[str]) -> str | None:
    unknown = sorted(refused & body.keys())
    return f"Unrecognized request argument supplied: {unknown[0]}" if unknown else None


def _header_failure(request: Request) -> Failure | None:
    value = request.headers.get(FAIL_HEADER)
    return Failure.parse(value) if value else None


def _header_latency(request: Request, default: float) -> float:
    value = request.headers.get(LATENCY_HEADER)
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        raise ValueError(f"X-Fake-Latency must be a number of seconds, got {value!r}") from None


def _error(status: int, message: str) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse(wire.error_body(message, kind=kind, code=status), status_code=status)


def _failure_response(failure: Failure) -> Response:
    if failure.kind == "malformed":
        return Response("<html>this is not JSON", media_type="application/json")
    if failure.kind == "bad_sse":
        return Response("data: {this is not json\n\n", media_type="text/event-stream")
    response = _error(failure.status, f"injected failure: HTTP {failure.status}")
    if failure.retry_after is not None:
        response.headers["Retry-After"] = failure.retry_after
    return response
