"""Async client for OpenAI-compatible servers: ``/v1/chat/completions`` or ``/v1/responses``.

One :class:`LlmClient` per endpoint; all clients of an event loop share one
pooled HTTP client unless given their own. Retries follow the endpoint's
:class:`~loom.llm.retry.RetryPolicy`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any, NamedTuple, Protocol

import httpx

from loom._bounded import TooLarge, body_lines, limit_hint, read_body, within
from loom.errors import (
    LlmConnectionError,
    LlmError,
    LlmHttpError,
    LlmResponseError,
    LlmTimeoutError,
)
from loom.llm.endpoint import LlmEndpoint
from loom.llm.http import is_tls_error, shared_http_client, transport_retryable
from loom.llm.parsing import (
    DONE,
    MalformedResponse,
    StreamAssembler,
    decode_json,
    parse_completion,
    sse_data,
)
from loom.llm.request import build_chat_body
from loom.llm.response import LlmResponse
from loom.llm.responses_parsing import ResponsesAssembler, parse_response
from loom.llm.responses_request import build_responses_body
from loom.llm.retry import Failure, retry_after, retrying

_OWNER = "LLM config"
TokenCallback = Callable[[str], Any]
"""Called with each streamed text delta; may be sync or async."""


class _Assembler(Protocol):
    @property
    def finish_reason(self) -> str | None: ...
    @property
    def ended(self) -> bool: ...
    def feed(self, chunk: Any) -> str: ...
    def result(self) -> LlmResponse: ...


class _Api(NamedTuple):
    """What differs between the two APIs: the body, the answer, the stream's end."""

    build: Callable[..., dict[str, Any]]
    parse: Callable[[Any], LlmResponse]
    assembler: Callable[[], _Assembler]
    end: str


_APIS = {
    "chat_completions": _Api(build_chat_body, parse_completion, StreamAssembler, "'data: [DONE]'"),
    "responses": _Api(build_responses_body, parse_response, ResponsesAssembler,
                      "'response.completed'"),
}


class LlmClient:
    """Sends chat requests to one endpoint and returns parsed answers."""

    def __init__(self, endpoint: LlmEndpoint, http_client: httpx.AsyncClient | None = None) -> None:
        self._endpoint = endpoint
        self._http = http_client
        if endpoint.api not in _APIS:
            raise ValueError(f"LlmEndpoint.api must be one of {sorted(_APIS)}, got {endpoint.api!r}")
        self._url = endpoint.request_url
        self._api = _APIS[endpoint.api]
        self._headers = {"Accept": "application/json"}
        self._stream_options = True  # until the server refuses them
        if endpoint.api_key:
            self._headers["Authorization"] = f"Bearer {endpoint.api_key}"

    def __repr__(self) -> str:
        return f"LlmClient(url={self._url!r}, model={self._endpoint.model!r})"

    @property
    def endpoint(self) -> LlmEndpoint:
        return self._endpoint

    async def generate(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        response_schema: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        stream: bool = False,
        on_token: TokenCallback | None = None,
    ) -> LlmResponse:
        """Ask the model for the next assistant message.

        A streamed call is retried only while no token has been delivered,
        so ``on_token`` never sees a text twice.
        """
        body = self._api.build(
            self._endpoint, messages, response_schema=response_schema, tools=tools, stream=stream
        )
        progress = _Progress()

        async def attempt() -> LlmResponse:
            deadline = self._endpoint.attempt_deadline
            once = self._stream(body, on_token, progress) if stream else self._post_once(body)
            try:
                return await within(deadline, once)
            except asyncio.TimeoutError:
                raise LlmTimeoutError(
                    url=self._url, model=self._endpoint.model, timeout=deadline,
                    detail="the deadline of one attempt", hint=limit_hint("deadline (seconds)", _OWNER),
                ) from None

        def judge(exc: Exception) -> Failure | None:
            if not isinstance(exc, LlmError) or progress.emitted:
                return None
            if isinstance(exc, LlmHttpError):
                return Failure(exc.status, exc.body, exc.retry_after)
            return Failure(retryable=exc.retryable)

        def gave_up(exc: Exception, attempts: int) -> None:
            if isinstance(exc, LlmError):
                exc.note_attempts(attempts)

        return await retrying(self._endpoint.retry, attempt, judge, gave_up)

    def _client(self) -> httpx.AsyncClient:
        return self._http if self._http is not None else shared_http_client()

    def _timeout(self) -> httpx.Timeout:
        # The pool wait is not part of an attempt: under heavy fan-out a request
        # may queue for a connection longer than the server takes to answer.
        seconds = self._endpoint.attempt_timeout
        return httpx.Timeout(seconds, pool=None)

    async def _post_once(self, body: dict[str, Any]) -> LlmResponse:
        return await self._stream_once(body, None, None)

    async def _stream(
        self, body: dict[str, Any], on_token: TokenCallback | None, progress: _Progress
    ) -> LlmResponse:
        """Stream one answer. A server that refuses ``stream_options`` (some older
        OpenAI-compatible ones answer 400) is asked again without them, and this client
        stops sending them: the answer then comes without token counts."""
        if not self._stream_options:
            body = {k: v for k, v in body.items() if k != "stream_options"}
        try:
            return await self._stream_once(body, on_token, progress)
        except LlmHttpError as exc:
            if not (exc.status in (400, 422) and "stream_options" in (exc.body or "")
                    and "stream_options" in body):
                raise
        self._stream_options = False
        return await self._stream(body, on_token, progress)

    async def _stream_once(
        self, body: dict[str, Any], on_token: TokenCallback | None, progress: _Progress | None
    ) -> LlmResponse:
        """One request, streamed when ``progress`` is given; every body is read
        within the endpoint's size limits."""
        accept = "text/event-stream" if progress else "application/json"
        headers = {**self._headers, "Accept": accept}
        which = "max_response_bytes"
        try:
            async with self._client().stream(
                "POST", self._url, json=body, headers=headers, timeout=self._timeout()
            ) as response:
                if not response.is_success:
                    raise self._http_error(response, await read_body(response, 65536, cut=True))
                if progress and "text/event-stream" in response.headers.get("content-type", ""):
                    which = "max_stream_bytes"
                    return await self._read_events(response, on_token, progress)
                # Not streamed (or the server ignored "stream": its answer is one token).
                text = await read_body(response, self._endpoint.max_response_bytes)
                result = self._api.parse(decode_json(text, "the response body"))
                if progress:
                    await progress.emit(on_token, result.text)
                return result
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._transport_error(exc) from exc
        except MalformedResponse as exc:
            raise self._response_error(str(exc)) from None
        except TooLarge as exc:
            error = LlmResponseError(
                url=self._url, model=self._endpoint.model,
                detail=f"the answer passed {which} = {getattr(self._endpoint, which):,}",
                hint=limit_hint(which, _OWNER),
            )
            error.received = exc.args[0]
            raise error from None

    async def _read_events(
        self, response: httpx.Response, on_token: TokenCallback | None, progress: _Progress
    ) -> LlmResponse:
        assembler = self._api.assembler()
        done = False
        lines = body_lines(response, self._endpoint.max_stream_bytes)
        async with aclosing(sse_data(lines)) as events:
            async for data in events:
                if data.strip() == DONE:
                    done = True
                    break
                text = assembler.feed(decode_json(data, "a stream chunk"))
                await progress.emit(on_token, text)
                if assembler.ended:
                    done = True
                    break
        if not done and assembler.finish_reason is None:
            raise MalformedResponse(f"the event stream ended before {self._api.end}")
        return assembler.result()

    def _http_error(self, response: httpx.Response, text: str) -> LlmHttpError:
        return LlmHttpError(
            response.status_code,
            text,
            url=self._url,
            model=self._endpoint.model,
            retry_after=retry_after(response.headers),
            secret=self._endpoint.api_key,
        )

    def _response_error(self, detail: str) -> LlmResponseError:
        return LlmResponseError(url=self._url, model=self._endpoint.model, detail=detail)

    def _transport_error(self, exc: Exception) -> LlmError:
        url, model = self._url, self._endpoint.model
        if isinstance(exc, httpx.TimeoutException):
            return LlmTimeoutError(
                url=url,
                model=model,
                timeout=self._endpoint.attempt_timeout,
                detail=type(exc).__name__,
            )
        if isinstance(exc, httpx.DecodingError):
            return self._response_error(f"cannot decode the body ({exc})")
        detail = str(exc) or type(exc).__name__
        if is_tls_error(exc):
            return LlmConnectionError(
                url=url,
                model=model,
                detail=f"TLS failure: {detail}",
                retryable=False,
                hint="Check the server's certificate, or use http:// if it does not speak TLS",
            )
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return LlmConnectionError(
                url=url,
                model=model,
                detail=detail,
                retryable=False,
                hint="The URL must look like http://host:port or https://host/v1; "
                "set --llm-url or LOOM_LLM_URL",
            )
        return LlmConnectionError(
            url=url, model=model, detail=detail, retryable=transport_retryable(exc)
        )


class _Progress:
    """Remembers whether tokens reached the caller, which forbids a retry."""

    def __init__(self) -> None:
        self.emitted = False

    async def emit(self, on_token: TokenCallback | None, text: str) -> None:
        if on_token is None or not text:
            return
        self.emitted = True
        result = on_token(text)
        if inspect.isawaitable(result):
            await result
