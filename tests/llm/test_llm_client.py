"""LlmClient against the fake server, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest

from loom.errors import LlmConnectionError, LlmHttpError, LlmResponseError, LlmTimeoutError
from loom.llm import (
    LlmClient,
    LlmEndpoint,
    RetryPolicy,
    aclose_shared_http_client,
    shared_http_client,
)
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply

FAST_RETRY = RetryPolicy(max_attempts=2, initial_retry_delay=0.01, max_retry_delay=0.05)
NO_RETRY = RetryPolicy(max_attempts=0)
SECRET = "sk-test-SECRET-4242"


@pytest.fixture(autouse=True)
async def _close_shared_client() -> AsyncIterator[None]:
    yield
    await aclose_shared_http_client()


def client_for(srv: FakeLlmServer, **changes: Any) -> LlmClient:
    settings: dict[str, Any] = {"url": srv.url, "model": "fake-model", "retry": FAST_RETRY}
    settings.update(changes)
    return LlmClient(LlmEndpoint(**settings))


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def test_plain_answer(srv: FakeLlmServer) -> None:
    result = await client_for(srv).generate(user("hello there"))

    assert result.text == "fake answer to: hello there"
    assert result.tool_calls == []
    assert result.finish_reason == "stop"
    assert result.usage["prompt_tokens"] == 2
    assert result.usage["completion_tokens"] == 5
    [body] = srv.requests
    assert body["model"] == "fake-model"
    assert body["messages"] == user("hello there")
    assert "stream" not in body


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_url_with_or_without_v1(srv: FakeLlmServer, suffix: str) -> None:
    result = await client_for(srv, url=srv.base_url + suffix).generate(user("hi"))

    assert result.text == "fake answer to: hi"
    assert srv.recorded[0].path == "/v1/chat/completions"


async def test_generation_params_are_sent(srv: FakeLlmServer) -> None:
    params = {"max_tokens": 64, "temperature": 0.3, "top_p": 0.9, "seed": 7, "stop": None}
    await client_for(srv, generation_params=params).generate(user("q"))

    [body] = srv.requests
    assert body["max_tokens"] == 64
    assert body["temperature"] == 0.3
    assert body["top_p"] == 0.9
    assert body["seed"] == 7
    assert "stop" not in body  # None means "not set"


async def test_api_key_sent_as_bearer_and_kept_out_of_messages(srv: FakeLlmServer) -> None:
    client = client_for(srv, api_key=SECRET, retry=NO_RETRY)
    await client.generate(user("q"))
    assert srv.recorded[0].headers["authorization"] == f"Bearer {SECRET}"

    srv.fail_next(1, status=401)
    with pytest.raises(LlmHttpError) as caught:
        await client.generate(user("q"))

    error = caught.value
    assert error.status == 401
    assert "LOOM_LLM_API_KEY" in str(error)
    for text in (str(error), repr(error), repr(client), repr(client.endpoint)):
        assert SECRET not in text


async def test_no_authorization_header_without_key(srv: FakeLlmServer) -> None:
    await client_for(srv).generate(user("q"))
    assert "authorization" not in srv.recorded[0].headers


PERSON_SCHEMA: dict[str, Any] = {
    "title": "Person record",
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "Full name"},
        "age": {"type": "integer", "minimum": 18},
        "score": {"type": "number"},
        "active": {"type": "boolean"},
        "role": {"enum": ["admin", "user"]},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": ["string", "null"]}},
            "required": ["city", "zip"],
            "additionalProperties": False,
        },
        "nickname": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "lang": {"type": "string", "default": "en"},
    },
    "required": ["name", "age", "score", "active", "role", "tags", "address"],
    "additionalProperties": False,
}


async def test_structured_output_conforms_to_schema(srv: FakeLlmServer) -> None:
    result = await client_for(srv).generate(user("who?"), response_schema=PERSON_SCHEMA)

    value = json.loads(result.text)
    jsonschema.validate(value, PERSON_SCHEMA)
    assert value["name"] == "fake Full name"
    assert value["age"] == 18
    assert value["lang"] == "en"
    fmt = srv.requests[0]["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Person_record"
    assert fmt["json_schema"]["schema"] == PERSON_SCHEMA
    assert fmt["json_schema"]["strict"] is False


async def test_structured_output_scripted_value(srv: FakeLlmServer) -> None:
    srv.script("who", {"name": "Ada"})
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    result = await client_for(srv).generate(user("who?"), response_schema=schema)
    assert json.loads(result.text) == {"name": "Ada"}


async def test_streaming_delivers_tokens_in_order(srv: FakeLlmServer) -> None:
    client = client_for(srv)
    question = user("please stream a few words back to me")
    tokens: list[str] = []

    streamed = await client.generate(question, stream=True, on_token=tokens.append)
    plain = await client.generate(question)

    assert len(tokens) > 5
    assert "".join(tokens) == streamed.text == plain.text
    assert streamed.finish_reason == "stop"
    assert srv.requests[0]["stream"] is True


async def test_a_streamed_answer_reports_token_usage(srv: FakeLlmServer) -> None:
    streamed = await client_for(srv).generate(user("hello there"), stream=True)
    plain = await client_for(srv).generate(user("hello there"))
    assert srv.requests[0]["stream_options"] == {"include_usage": True}
    assert streamed.usage == plain.usage and streamed.usage["completion_tokens"] == 5


async def test_a_server_refusing_stream_options_is_asked_again_without_them(
    srv: FakeLlmServer,
) -> None:
    srv.refuse_fields("stream_options")
    client = client_for(srv, retry=NO_RETRY)  # the second request is not a retry
    tokens: list[str] = []
    result = await client.generate(user("hello there"), stream=True, on_token=tokens.append)
    assert "".join(tokens) == result.text == "fake answer to: hello there"
    assert result.usage == {}  # the server cannot send counts in a stream
    assert [r.status for r in srv.recorded] == [400, 200]
    assert "stream_options" in srv.requests[0] and "stream_options" not in srv.requests[1]
    await client.generate(user("again"), stream=True)
    assert len(srv.requests) == 3 and "stream_options" not in srv.requests[2]  # remembered


async def test_another_400_on_a_stream_is_not_asked_again(srv: FakeLlmServer) -> None:
    srv.fail_next(status=400)
    with pytest.raises(LlmHttpError) as caught:
        await client_for(srv).generate(user("hi"), stream=True)
    assert caught.value.status == 400 and len(srv.requests) == 1


async def test_streaming_accepts_async_callback(srv: FakeLlmServer) -> None:
    seen: list[str] = []

    async def on_token(text: str) -> None:
        await asyncio.sleep(0)
        seen.append(text)

    result = await client_for(srv).generate(user("a b c"), stream=True, on_token=on_token)
    assert "".join(seen) == result.text == "fake answer to: a b c"


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls_are_parsed(srv: FakeLlmServer, stream: bool) -> None:
    srv.script(
        "weather",
        ToolCallsReply(
            [
                ScriptedToolCall("get_weather", {"city": "Paris"}),
                {"name": "get_weather", "arguments": {"city": "Oslo, Norway"}, "id": "my-id"},
            ]
        ),
    )
    result = await client_for(srv).generate(
        user("what is the weather?"), tools=[WEATHER_TOOL], stream=stream
    )

    assert result.finish_reason == "tool_calls"
    assert [call.name for call in result.tool_calls] == ["get_weather", "get_weather"]
    assert [json.loads(call.arguments) for call in result.tool_calls] == [
        {"city": "Paris"},
        {"city": "Oslo, Norway"},
    ]
    assert [call.id for call in result.tool_calls] == ["call_0_0", "my-id"]
    assert srv.requests[0]["tools"] == [WEATHER_TOOL]


async def test_scripted_sequence_drives_an_agent_loop(srv: FakeLlmServer) -> None:
    srv.script_sequence(
        [ToolCallsReply([ScriptedToolCall("get_weather", {"city": "Rome"})]), "It is sunny."],
        match="weather",
    )
    client = client_for(srv)
    messages = user("weather in Rome?")

    first = await client.generate(messages, tools=[WEATHER_TOOL])
    [call] = first.tool_calls
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 25C"},
    ]
    second = await client.generate(messages, tools=[WEATHER_TOOL])

    assert call.name == "get_weather"
    assert second.text == "It is sunny."
    assert second.tool_calls == []


async def test_server_error_then_success_is_retried(srv: FakeLlmServer) -> None:
    srv.fail_next(1, status=500)
    result = await client_for(srv).generate(user("q"))

    assert result.text == "fake answer to: q"
    assert [r.status for r in srv.recorded] == [500, 200]


async def test_streaming_is_retried_before_any_token(srv: FakeLlmServer) -> None:
    srv.fail_next(1, status=503)
    tokens: list[str] = []
    result = await client_for(srv).generate(user("q"), stream=True, on_token=tokens.append)

    assert "".join(tokens) == result.text
    assert len(srv.requests) == 2


async def test_throttling_is_retried_with_backoff(srv: FakeLlmServer) -> None:
    policy = RetryPolicy(max_attempts=3, initial_retry_delay=0.05, max_retry_delay=1.0)
    srv.fail_next(2, status=429)
    result = await client_for(srv, retry=policy).generate(user("q"))

    assert result.text == "fake answer to: q"
    starts = [r.started for r in srv.recorded]
    assert len(starts) == 3
    # "equal" jitter for 4xx waits at least half the exponential delay.
    assert starts[1] - starts[0] >= 0.025 - 0.005
    assert starts[2] - starts[1] >= 0.05 - 0.005


async def test_bad_request_is_not_retried(srv: FakeLlmServer) -> None:
    srv.fail_next(1, status=400)
    with pytest.raises(LlmHttpError) as caught:
        await client_for(srv).generate(user("q"))

    assert caught.value.status == 400
    assert caught.value.attempts == 1
    assert len(srv.requests) == 1
    assert srv.url in str(caught.value)
    assert "fake-model" in str(caught.value)


async def test_not_implemented_is_not_retried(srv: FakeLlmServer) -> None:
    srv.fail_next(1, status=501)
    with pytest.raises(LlmHttpError):
        await client_for(srv).generate(user("q"))
    assert len(srv.requests) == 1


async def test_retries_are_bounded(srv: FakeLlmServer) -> None:
    srv.fail_next(10, status=503)
    with pytest.raises(LlmHttpError) as caught:
        await client_for(srv).generate(user("q"))

    assert len(srv.requests) == 3  # first attempt + max_attempts=2 retries
    assert caught.value.attempts == 3
    assert "gave up after 3 attempts" in str(caught.value)


async def test_timeout_names_the_url(srv: FakeLlmServer) -> None:
    srv.fail_next(1, kind="timeout")
    client = client_for(srv, timeout=0.3, retry=NO_RETRY)
    with pytest.raises(LlmTimeoutError) as caught:
        await client.generate(user("q"))

    message = str(caught.value)
    assert srv.url + "/chat/completions" in message
    assert "0.3 s" in message


async def test_timeout_is_retried(srv: FakeLlmServer) -> None:
    srv.fail_next(1, kind="timeout")
    result = await client_for(srv, timeout=1.0).generate(user("q"))
    assert result.text == "fake answer to: q"
    assert len(srv.requests) == 2


async def test_policy_request_timeout_wins(srv: FakeLlmServer) -> None:
    srv.fail_next(1, kind="timeout")
    policy = RetryPolicy(max_attempts=0, request_timeout=0.2)
    with pytest.raises(LlmTimeoutError, match="0.2 s"):
        await client_for(srv, timeout=30.0, retry=policy).generate(user("q"))


async def test_malformed_body_is_a_response_error(srv: FakeLlmServer) -> None:
    srv.fail_next(1, kind="malformed")
    with pytest.raises(LlmResponseError) as caught:
        await client_for(srv).generate(user("q"))

    assert "not JSON" in str(caught.value)
    assert srv.url in str(caught.value)
    assert len(srv.requests) == 1


async def test_bad_event_stream_is_a_response_error(srv: FakeLlmServer) -> None:
    srv.fail_next(1, kind="bad_sse")
    with pytest.raises(LlmResponseError, match="stream chunk is not JSON"):
        await client_for(srv).generate(user("q"), stream=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_explained() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    client = LlmClient(LlmEndpoint(url=url, model="m", retry=FAST_RETRY, timeout=2.0))
    with pytest.raises(LlmConnectionError) as caught:
        await client.generate(user("q"))

    message = str(caught.value)
    assert url in message
    assert "Is the server running" in message
    assert "LOOM_LLM_URL" in message
    assert caught.value.attempts == 3  # connection errors are retried


async def test_concurrent_requests_overlap(srv: FakeLlmServer) -> None:
    srv.latency = 0.2
    client = client_for(srv)
    results = await asyncio.gather(*(client.generate(user(f"q{i}")) for i in range(20)))

    assert sorted(r.text for r in results) == sorted(f"fake answer to: q{i}" for i in range(20))
    recorded = srv.recorded
    assert len(recorded) == 20
    assert max(r.started for r in recorded) < min(r.ended or 0.0 for r in recorded)


async def test_shared_client_is_reused_within_a_loop(srv: FakeLlmServer) -> None:
    assert shared_http_client() is shared_http_client()
    client = client_for(srv)
    await client.generate(user("one"))
    await client.generate(user("two"))
    # Sequential calls reuse one kept-alive connection.
    peers = {r.peer for r in srv.recorded}
    assert len(peers) == 1


async def test_caller_supplied_http_client(srv: FakeLlmServer) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        client = LlmClient(LlmEndpoint(url=srv.url, model="m"), http_client=http)
        result = await client.generate(user("q"))
    assert result.text == "fake answer to: q"
