"""The Responses API (``api="responses"``) over real HTTP: loom's client against the
test server, the test server against the official ``openai`` client, and both
against the ``openai`` package's own types of the wire format."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from openai.types.responses import Response as OpenAiResponse
from openai.types.responses import ResponseStreamEvent
from openai.types.responses import response_create_params as create_params
from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loom.errors import LlmHttpError, LlmResponseError, LlmTimeoutError
from loom.llm import LlmClient, LlmEndpoint, RetryPolicy, aclose_shared_http_client
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply, serve_asgi

FAST_RETRY = RetryPolicy(max_attempts=2, initial_retry_delay=0.01, max_retry_delay=0.05)
PLAIN_REQUEST = TypeAdapter(create_params.ResponseCreateParamsNonStreaming)
STREAMED_REQUEST = TypeAdapter(create_params.ResponseCreateParamsStreaming)
EVENT = TypeAdapter(ResponseStreamEvent)
TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


@pytest.fixture(autouse=True)
async def _close_shared_client() -> AsyncIterator[None]:
    yield
    await aclose_shared_http_client()


def client_for(url: str, **changes: Any) -> LlmClient:
    settings: dict[str, Any] = {"url": url, "model": "fake-model", "retry": FAST_RETRY,
                                "api": "responses"}
    settings.update(changes)
    return LlmClient(LlmEndpoint(**settings))


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def test_a_plain_answer_comes_from_v1_responses(srv: FakeLlmServer) -> None:
    result = await client_for(srv.url).generate(user("hello there"))
    assert result.text == "fake answer to: hello there"
    assert result.finish_reason == "stop" and result.tool_calls == []
    assert result.usage == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}
    [record] = srv.recorded
    assert record.path == "/v1/responses"
    assert record.body == {"model": "fake-model", "store": False,
                           "input": [{"type": "message", "role": "user",
                                      "content": "hello there"}]}
    PLAIN_REQUEST.validate_python(record.body)  # the SDK's own type of the request


async def test_a_streamed_answer_delivers_its_deltas(srv: FakeLlmServer) -> None:
    tokens: list[str] = []
    result = await client_for(srv.url).generate(
        user("stream this please"), stream=True, on_token=tokens.append)
    assert result.text == "fake answer to: stream this please"
    assert len(tokens) == 6 and "".join(tokens) == result.text
    assert result.usage == {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}
    body = srv.requests[0]
    assert body["stream"] is True and "stream_options" not in body
    STREAMED_REQUEST.validate_python(body)
    assert [e["type"] for e in result.raw][-1] == "response.completed"


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls_keep_their_call_ids_both_ways(srv: FakeLlmServer, stream: bool) -> None:
    srv.script_sequence([
        ToolCallsReply([ScriptedToolCall("get_weather", {"city": "Paris"}, id="call_abc"),
                        ScriptedToolCall("get_weather", {"city": "Oslo"}, id="call_def")],
                       text="Let me look."),
        lambda body: f"tools said {[m['content'] for m in body['messages'] if m['role'] == 'tool']}",
    ])
    client = client_for(srv.url)
    first = await client.generate(user("weather?"), tools=[TOOL], stream=stream)
    assert first.finish_reason == "tool_calls" and first.text == "Let me look."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in first.tool_calls] == [
        ("call_abc", "get_weather", {"city": "Paris"}),
        ("call_def", "get_weather", {"city": "Oslo"})]
    assert srv.requests[0]["tools"] == [{
        "type": "function", "name": "get_weather", "description": "Weather of a city",
        "parameters": TOOL["function"]["parameters"], "strict": False}]

    conversation = [*user("weather?"), {
        "role": "assistant", "content": first.text,
        "tool_calls": [{"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments}}
                       for c in first.tool_calls]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_def", "content": "snow"}]
    second = await client.generate(conversation, tools=[TOOL], stream=stream)
    assert second.text == "tools said ['sunny', 'snow']"  # one assistant turn for two calls
    items = srv.requests[1]["input"]
    assert [(i["type"], i.get("call_id")) for i in items] == [
        ("message", None), ("message", None), ("function_call", "call_abc"),
        ("function_call", "call_def"), ("function_call_output", "call_abc"),
        ("function_call_output", "call_def")]
    (STREAMED_REQUEST if stream else PLAIN_REQUEST).validate_python(srv.requests[1])


@pytest.mark.parametrize("stream", [False, True])
async def test_structured_output_asks_text_format_and_follows_the_schema(
    srv: FakeLlmServer, stream: bool
) -> None:
    schema = {"title": "Person info", "type": "object",
              "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    result = await client_for(srv.url).generate(user("who?"), response_schema=schema,
                                                stream=stream)
    jsonschema.validate(json.loads(result.text), schema)
    assert srv.requests[0]["text"] == {"format": {
        "type": "json_schema", "name": "Person_info", "schema": schema, "strict": False}}


async def test_generation_parameters_use_the_responses_names(srv: FakeLlmServer) -> None:
    params = {"max_tokens": 64, "temperature": 0.2, "top_p": 0.9}
    await client_for(srv.url, generation_params=params).generate(user("hi"))
    body = srv.requests[0]
    assert (body["max_output_tokens"], body["temperature"], body["top_p"]) == (64, 0.2, 0.9)
    assert "max_tokens" not in body


async def test_errors_are_retried_as_for_chat_completions(srv: FakeLlmServer) -> None:
    srv.fail_next(1, status=500)
    assert (await client_for(srv.url).generate(user("x"))).text == "fake answer to: x"
    assert [r.status for r in srv.recorded] == [500, 200]
    srv.fail_next(3, status=429)
    with pytest.raises(LlmHttpError) as caught:
        await client_for(srv.url).generate(user("x"), stream=True)
    assert caught.value.status == 429 and caught.value.url.endswith("/v1/responses")


@pytest.mark.parametrize(("kind", "stream", "limit", "error", "message"), [
    ("endless_sse", True, {"max_stream_bytes": 100_000}, LlmResponseError,
     "max_stream_bytes = 100,000"),
    ("endless_json", False, {"max_response_bytes": 100_000}, LlmResponseError,
     "max_response_bytes = 100,000"),
    ("keepalive", True, {"deadline": 0.3}, LlmTimeoutError, "deadline of one attempt"),
])
async def test_answers_without_end_stop_at_the_limits(
    srv: FakeLlmServer, kind: Any, stream: bool, limit: dict[str, Any], error: type[Exception],
    message: str,
) -> None:
    srv.fail_next(1, kind=kind)
    client = client_for(srv.url, retry=RetryPolicy(max_attempts=0), **limit)
    with pytest.raises(error, match=message):
        await client.generate(user("x"), stream=stream)


def sse(*events: dict[str, Any]) -> str:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


DELTA = {"type": "response.output_text.delta", "output_index": 0, "delta": "half an"}


@pytest.fixture(scope="module")
def scripted_stream() -> Iterator[tuple[str, list[str]]]:
    """A server that streams the body a test puts in ``bodies[0]``."""
    bodies: list[str] = [""]

    async def answer(request: Request) -> Response:
        return Response(bodies[0], media_type="text/event-stream")

    with serve_asgi(Starlette(routes=[Route("/v1/responses", answer, methods=["POST"])])) as url:
        yield url, bodies


@pytest.mark.parametrize(("events", "message"), [
    ((DELTA,), "the event stream ended before 'response.completed'"),
    ((DELTA, {"type": "error", "code": "server_error", "message": "model overloaded"}),
     "server reported an error: model overloaded"),
    ((DELTA, {"type": "response.failed", "response": {
        "status": "failed", "error": {"code": "server_error", "message": "it broke"}}}),
     "server reported an error: it broke"),
])
async def test_a_stream_that_fails_or_stops_short_is_an_error(
    scripted_stream: tuple[str, list[str]], events: tuple[dict[str, Any], ...], message: str
) -> None:
    url, bodies = scripted_stream
    bodies[0] = sse(*events)
    with pytest.raises(LlmResponseError, match=message):
        await client_for(url, retry=RetryPolicy(max_attempts=0)).generate(user("x"), stream=True)


async def test_items_seen_in_the_stream_stand_in_for_a_bare_final_response(
    scripted_stream: tuple[str, list[str]]
) -> None:
    url, bodies = scripted_stream
    call = {"type": "function_call", "call_id": "call_9", "name": "get_weather", "arguments": ""}
    bodies[0] = sse(
        {"type": "response.output_item.added", "output_index": 0, "item": call},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '{"ci'},
        {"type": "response.function_call_arguments.delta", "output_index": 0,
         "delta": 'ty": "Rome"}'},
        {"type": "response.incomplete", "response": {"status": "incomplete", "output": [],
         "incomplete_details": {"reason": "max_output_tokens"},
         "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}}})
    result = await client_for(url).generate(user("x"), stream=True)
    assert [(c.id, c.arguments) for c in result.tool_calls] == [("call_9", '{"city": "Rome"}')]
    assert result.usage == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


# --- the official client reads the test server -----------------------------------------


def test_the_openai_client_reads_the_test_server(srv: FakeLlmServer) -> None:
    srv.script("weather", ToolCallsReply([ScriptedToolCall("get_weather", {"city": "Paris"})]))
    tool: Any = {"type": "function", "name": "get_weather", "strict": False,
                 "parameters": TOOL["function"]["parameters"]}
    with openai.OpenAI(base_url=srv.url, api_key="sk-test", max_retries=0) as client:
        plain = client.responses.create(model="fake-model", input="hello there",
                                        instructions="Be brief.")
        assert plain.output_text == "fake answer to: hello there"
        assert plain.usage is not None and plain.usage.input_tokens == 4  # with the instructions
        called = client.responses.create(model="fake-model", input="weather?", tools=[tool])
        [item] = called.output
        assert item.type == "function_call" and item.call_id == "call_0_0"
        assert json.loads(item.arguments) == {"city": "Paris"}

        with client.responses.create(model="fake-model", input="hello stream",
                                     stream=True) as stream:
            events = list(stream)
        deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
        assert "".join(deltas) == "fake answer to: hello stream"
        assert events[-1].type == "response.completed"
        assert events[-1].response.output_text == "fake answer to: hello stream"
        assert [e.sequence_number for e in events] == list(range(len(events)))

    # Validated strictly by the SDK's models (the client itself is lenient).
    OpenAiResponse.model_validate(plain.model_dump(mode="json", exclude_unset=True))
    OpenAiResponse.model_validate(called.model_dump(mode="json", exclude_unset=True))
    for event in events:
        EVENT.validate_python(event.model_dump(mode="json", exclude_unset=True))


def test_streamed_tool_calls_match_the_sdk_event_types(srv: FakeLlmServer) -> None:
    srv.script("weather", ToolCallsReply([ScriptedToolCall("get_weather", {"city": "Paris"})]))
    with openai.OpenAI(base_url=srv.url, api_key="sk-test", max_retries=0) as client:
        with client.responses.create(model="fake-model", input="weather?", stream=True,
                                     tools=[{"type": "function", "name": "get_weather",
                                             "parameters": {}, "strict": False}]) as stream:
            events = list(stream)
    pieces = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert json.loads("".join(pieces)) == {"city": "Paris"}
    final = events[-1]
    assert final.type == "response.completed"
    assert [(i.type, getattr(i, "call_id", None)) for i in final.response.output] == [
        ("function_call", "call_0_0")]
    for event in events:
        EVENT.validate_python(event.model_dump(mode="json", exclude_unset=True))


@pytest.mark.parametrize(("body", "message"), [
    ({"input": "hi"}, "'model' is required"),
    ({"model": "fake-model", "input": []}, "'input' must be a string or a non-empty list of items"),
    ({"model": "fake-model", "input": [{"type": "reasoning"}]},
     "input[0] is not a message, function_call or function_call_output"),
])
def test_the_test_server_refuses_what_a_real_server_would(
    srv: FakeLlmServer, body: dict[str, Any], message: str
) -> None:
    answer = httpx.post(srv.url + "/responses", json=body, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"]["message"] == message


def test_instructions_count_as_the_system_prompt_for_scripts(srv: FakeLlmServer) -> None:
    srv.script(None, "as the pirate", system="pirate")
    with openai.OpenAI(base_url=srv.url, api_key="sk-test", max_retries=0) as client:
        answer = client.responses.create(model="fake-model", input="hi",
                                         instructions="You are a pirate.")
    assert answer.output_text == "as the pirate"
