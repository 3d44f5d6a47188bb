"""An LLM answer without end: every attempt has a deadline and a size limit.

Over real HTTP to the fake server's endless failures. Memory is judged by the
bytes the client read (``LlmError.received``) and the bytes the server sent,
never by RSS; times are generous bounds, not measurements.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from loom import dumps
from loom._bounded import DEFAULT_DEADLINE, MAX_RESPONSE_BYTES, MAX_STREAM_BYTES
from loom.cli import main
from loom.errors import LlmHttpError, LlmResponseError, LlmTimeoutError, SpecError
from loom.llm import LlmClient, LlmEndpoint, RetryPolicy, aclose_shared_http_client
from loom.runtime import Runtime
from loom.spec import Flow, LlmNode, StartNode
from loom.spec.flows import ControlFlowEdge
from loom.spec.llms import OpenAiCompatibleConfig
from loom.spec.nodes import EndNode
from loom.testing import FakeLlmServer, serve_asgi

NO_RETRY = RetryPolicy(max_attempts=0)
FAST_RETRY = RetryPolicy(max_attempts=1, initial_retry_delay=0.01, max_retry_delay=0.05)
LIMIT = 1 << 20
CHUNK = 1 << 17
"""The most one read may add past the limit (httpx reads 64 KiB; decoding may join two)."""
SOCKET_SLACK = 64 << 20
"""Kernel buffers between the two ends: the server may have written this much more."""
GUARD = 30.0
"""Without the limits these calls never end: fail instead of hanging the suite."""


@pytest.fixture(autouse=True)
async def _close_shared_client() -> AsyncIterator[None]:
    yield
    await aclose_shared_http_client()


def client(srv: FakeLlmServer, **changes: Any) -> LlmClient:
    settings: dict[str, Any] = {"url": srv.url, "model": "fake-model", "retry": NO_RETRY}
    settings.update(changes)
    return LlmClient(LlmEndpoint(**settings))


async def call(llm: LlmClient, **options: Any) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises((LlmResponseError, LlmTimeoutError)) as caught:
        await asyncio.wait_for(
            llm.generate([{"role": "user", "content": "hi"}], **options), GUARD
        )
    return caught.value, time.monotonic() - started


def test_the_defaults_are_sane() -> None:
    endpoint = LlmEndpoint(url="http://h", model="m")
    assert endpoint.attempt_deadline == DEFAULT_DEADLINE == 600.0
    assert endpoint.max_response_bytes == MAX_RESPONSE_BYTES == 4 << 20
    assert endpoint.max_stream_bytes == MAX_STREAM_BYTES == 16 << 20
    # A read timeout longer than the default deadline is never cut short by it.
    slow = LlmEndpoint(url="http://h", model="m", retry=RetryPolicy(request_timeout=900.0))
    assert slow.attempt_deadline == 900.0
    assert LlmEndpoint(url="http://h", model="m", deadline=5.0).attempt_deadline == 5.0


async def test_an_endless_json_body_stops_at_the_size_limit(srv: FakeLlmServer) -> None:
    srv.fail_next(kind="endless_json")
    error, took = await call(client(srv, max_response_bytes=LIMIT, deadline=GUARD / 2))
    assert isinstance(error, LlmResponseError)
    message = str(error)
    assert srv.url in message and "'fake-model'" in message
    assert "max_response_bytes = 1,048,576" in message
    assert 'raise max_response_bytes in the LLM config\'s metadata {"loom": {...}}' in message  # how to raise it
    assert error.received is not None and LIMIT < error.received <= LIMIT + CHUNK
    assert took < GUARD / 2
    [record] = srv.recorded  # a limit breached is not retried
    await asyncio.sleep(0.2)  # let the server notice the client left
    assert LIMIT <= record.sent <= LIMIT + SOCKET_SLACK


async def test_an_endless_event_stream_stops_at_the_stream_limit(srv: FakeLlmServer) -> None:
    srv.fail_next(kind="endless_sse")
    tokens: list[str] = []
    error, took = await call(client(srv, max_stream_bytes=LIMIT, deadline=GUARD / 2),
                             stream=True, on_token=tokens.append)
    assert isinstance(error, LlmResponseError)
    assert "max_stream_bytes = 1,048,576" in str(error)
    assert error.received is not None and LIMIT < error.received <= LIMIT + CHUNK
    assert tokens and sum(map(len, tokens)) <= LIMIT  # the text kept is bounded too
    assert took < GUARD / 2
    await asyncio.sleep(0.2)
    [record] = srv.recorded
    assert record.sent <= LIMIT + SOCKET_SLACK


async def test_an_endless_json_body_to_a_streamed_request_is_bounded(
    srv: FakeLlmServer,
) -> None:
    srv.fail_next(kind="endless_json")  # the server ignores "stream": true
    error, _ = await call(client(srv, max_response_bytes=LIMIT), stream=True)
    assert isinstance(error, LlmResponseError) and "max_response_bytes" in str(error)
    assert error.received is not None and error.received <= LIMIT + CHUNK


async def test_keep_alive_comments_only_end_at_the_deadline(srv: FakeLlmServer) -> None:
    srv.fail_next(kind="keepalive", interval=0.05)
    # Each read gets an answer well within its timeout; only the deadline ends it.
    llm = client(srv, deadline=1.0, retry=RetryPolicy(max_attempts=0, request_timeout=10.0))
    error, took = await call(llm, stream=True)
    assert isinstance(error, LlmTimeoutError)
    message = str(error)
    assert "did not answer within 1 s (the deadline of one attempt)" in message
    assert srv.url in message and "'fake-model'" in message
    assert 'raise deadline (seconds) in the LLM config\'s metadata' in message
    assert error.retryable
    assert 0.9 < took < GUARD / 2


@pytest.mark.parametrize("stream", [False, True])
async def test_a_trickle_of_bytes_ends_at_the_deadline(srv: FakeLlmServer, stream: bool) -> None:
    srv.fail_next(kind="trickle", interval=0.05)
    error, took = await call(client(srv, deadline=1.0), stream=stream)
    assert isinstance(error, LlmTimeoutError) and error.timeout == 1.0
    assert took < GUARD / 2
    [record] = srv.recorded
    assert record.sent < 100


async def test_a_deadline_is_retried_like_a_timeout(srv: FakeLlmServer) -> None:
    srv.fail_next(kind="trickle", interval=0.05)
    result = await asyncio.wait_for(
        client(srv, deadline=1.0, retry=FAST_RETRY).generate([{"role": "user", "content": "x"}]),
        GUARD,
    )
    assert result.text == "fake answer to: x"
    assert len(srv.recorded) == 2


async def test_an_endless_error_body_is_cut_not_read_whole() -> None:
    sent = [0]

    async def endless() -> AsyncIterator[bytes]:
        while sent[0] < 1 << 30:
            sent[0] += 65536
            yield b"x" * 65536
            await asyncio.sleep(0)

    async def chat(request: Request) -> StreamingResponse:
        return StreamingResponse(endless(), status_code=500, media_type="application/json")

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    with serve_asgi(app) as url:
        llm = LlmClient(LlmEndpoint(url=url, model="m", retry=NO_RETRY, deadline=GUARD / 2))
        with pytest.raises(LlmHttpError) as caught:
            await asyncio.wait_for(llm.generate([{"role": "user", "content": "hi"}]), GUARD)
    assert caught.value.status == 500 and caught.value.body.startswith("xxxx")
    assert sent[0] < SOCKET_SLACK


def llm_flow(srv: FakeLlmServer, loom: dict[str, Any]) -> Flow:
    config = OpenAiCompatibleConfig(
        name="endless", url=srv.url, model_id="fake-model",
        retry_policy={"max_attempts": 0}, metadata={"loom": loom},
    )
    start, end = StartNode(name="start"), EndNode(name="end")
    ask = LlmNode(name="ask", llm_config=config, prompt_template="hi")
    return Flow(
        name="main", start_node=start, nodes=[start, ask, end],
        control_flow_connections=[
            ControlFlowEdge(name="e1", from_node=start, to_node=ask),
            ControlFlowEdge(name="e2", from_node=ask, to_node=end),
        ],
    )


def test_the_llm_config_metadata_sets_the_limits(srv: FakeLlmServer) -> None:
    srv.fail_next(kind="endless_json")
    result = Runtime().run(llm_flow(srv, {"max_response_bytes": LIMIT, "deadline": 20}))
    assert result.status == "failed" and result.error is not None
    assert "max_response_bytes = 1,048,576" in result.error.message
    srv.fail_next(kind="trickle", interval=0.05)
    started = time.monotonic()
    result = Runtime().run(llm_flow(srv, {"deadline": 0.5}))
    assert result.status == "failed" and result.error is not None
    assert "within 0.5 s" in result.error.message
    assert time.monotonic() - started < GUARD / 2


@pytest.mark.parametrize("value", ["abc", -1, 0, True, float("nan"), float("inf")])
def test_a_bad_limit_in_the_metadata_is_refused_when_the_config_is_built(
        srv: FakeLlmServer, value: Any) -> None:
    with pytest.raises(SpecError) as caught:
        llm_flow(srv, {"max_stream_bytes": value})
    message = str(caught.value)
    assert "loom.max_stream_bytes must be a positive number" in message
    assert "OpenAiCompatibleConfig 'endless'" in message and "[at metadata]" in message
    assert not srv.recorded


@pytest.mark.parametrize("key", ["deadline", "max_response_bytes", "max_stream_bytes"])
def test_validate_reports_a_bad_limit_and_run_exits_2(
        key: str, srv: FakeLlmServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    document = json.loads(dumps(llm_flow(srv, {key: 5})))
    text = json.dumps(document).replace(f'"{key}": 5', f'"{key}": "soon"')
    assert '"soon"' in text
    config = tmp_path / "flow.json"
    config.write_text(text)
    assert main(["validate", str(config)]) == 1
    assert f"loom.{key} must be a positive number, got 'soon'" in capsys.readouterr().out
    assert main(["run", str(config), "--store", "memory:"]) == 2
    assert f"loom.{key} must be a positive number" in capsys.readouterr().err
    assert not srv.recorded
