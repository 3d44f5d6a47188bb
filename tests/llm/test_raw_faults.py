"""The LLM client against a raw socket server that answers badly on purpose: every
case ends within its deadline with a clear error, and reads a bounded amount."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from loom.errors import LlmConnectionError, LlmError, LlmResponseError, LlmTimeoutError
from loom.llm import LlmClient, LlmEndpoint, RetryPolicy, aclose_shared_http_client
from loom.testing.raw_server import RawHttpServer, RawMode

LIMIT = 1 << 20
DEADLINE = 2.0
READ_TIMEOUT = 0.5
GUARD = 30.0

EXPECTED: dict[str, tuple[type[LlmError], str]] = {
    "no_end": (LlmResponseError, "passed max_response_bytes = 1,048,576"),
    "garbage": (LlmConnectionError, "cannot reach the LLM server"),
    "close_mid_body": (LlmConnectionError, "cannot reach the LLM server"),
    "drip": (LlmTimeoutError, f"did not answer within {DEADLINE:g} s (the deadline"),
    "headers_only": (LlmTimeoutError, f"did not answer within {READ_TIMEOUT:g} s (Read"),
    "silent": (LlmTimeoutError, f"did not answer within {READ_TIMEOUT:g} s (Read"),
}


@pytest.fixture(autouse=True)
async def _close_shared_client() -> AsyncIterator[None]:
    yield
    await aclose_shared_http_client()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("mode", list(EXPECTED))
async def test_every_raw_fault_ends_with_a_clear_error(mode: RawMode, stream: bool) -> None:
    kind, text = EXPECTED[mode]
    with RawHttpServer(mode) as srv:
        url = srv.url
        endpoint = LlmEndpoint(
            url=srv.url, model="m", deadline=DEADLINE, max_response_bytes=LIMIT,
            retry=RetryPolicy(max_attempts=0, request_timeout=READ_TIMEOUT),
        )
        started = time.monotonic()
        with pytest.raises(LlmError) as caught:
            await asyncio.wait_for(
                LlmClient(endpoint).generate([{"role": "user", "content": "hi"}], stream=stream),
                GUARD,
            )
        took = time.monotonic() - started
    error = caught.value
    assert type(error) is kind, error
    assert text in str(error)
    assert url in str(error) and "'m'" in str(error)
    assert took < DEADLINE + 5.0
    assert srv.connections == 1
    if mode == "no_end":
        assert error.received is not None and error.received <= LIMIT + (1 << 17)
    else:
        assert srv.sent < 10_000
