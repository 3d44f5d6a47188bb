"""The OpenAI-compatible door over real HTTP, read by the official ``openai`` client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from cli.flows import chain, prop
from loom.spec import Agent, ClientTool, Flow, LlmNode, Property
from loom.testing import FakeLlmServer, ScriptedToolCall

from .helpers import llm, summarizer, write_configs


def pair(url: str) -> Flow:
    """Two inputs: the user message must be a JSON object of them."""
    node = LlmNode(name="join", llm_config=llm(url), prompt_template="Join {{a}} and {{b}}",
                   outputs=[prop("joined")])
    return chain("pair", node, inputs=[prop("a"), prop("b")],
                 outputs=[prop("joined")])


def two_outputs(url: str) -> Flow:
    first = LlmNode(name="first", llm_config=llm(url), prompt_template="One {{text}}",
                    outputs=[prop("one")])
    second = LlmNode(name="second", llm_config=llm(url), prompt_template="Two {{text}}",
                     outputs=[prop("two")])
    return chain("two_outputs", first, second, inputs=[prop("text")],
                 outputs=[prop("one"), prop("two")])


@pytest.fixture
def configs(tmp_path: Path, llm: FakeLlmServer) -> Path:
    weather = ClientTool(name="weather", description="The weather of a city",
                         inputs=[Property(title="city", json_schema={"type": "string"})])
    return write_configs(
        tmp_path / "configs", summarizer=summarizer(llm.url), pair=pair(llm.url),
        two_outputs=two_outputs(llm.url),
        helper=Agent(name="helper", llm_config=llm_config(llm), system_prompt="Be kind"),
        forecaster=Agent(name="forecaster", llm_config=llm_config(llm),
                         system_prompt="Use the weather tool", tools=[weather]),
    )


def llm_config(server: FakeLlmServer) -> Any:
    return llm(server.url)


@pytest.fixture
def oai(client: httpx.Client) -> openai.OpenAI:
    return openai.OpenAI(base_url=str(client.base_url).rstrip("/") + "/v1", api_key="unused", max_retries=0)


def test_models_list_the_components(oai: openai.OpenAI) -> None:
    ids = sorted(model.id for model in oai.models.list())
    assert ids == ["forecaster", "helper", "pair", "summarizer", "two_outputs"]


def test_chat_one_string_input_takes_the_user_text(oai: openai.OpenAI) -> None:
    done = oai.chat.completions.create(model="summarizer", messages=[
        {"role": "system", "content": "ignored"}, {"role": "user", "content": "the sea"}])
    assert done.choices[0].message.content == "fake answer to: Sum up the sea"
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None and done.usage.completion_tokens > 0


def test_chat_json_inputs_and_several_outputs(oai: openai.OpenAI) -> None:
    done = oai.chat.completions.create(model="pair", messages=[
        {"role": "user", "content": json.dumps({"a": "salt", "b": "pepper"})}])
    assert done.choices[0].message.content == "fake answer to: Join salt and pepper"
    both = oai.chat.completions.create(model="two_outputs", messages=[
        {"role": "user", "content": "x"}])
    assert json.loads(both.choices[0].message.content or "") == {
        "one": "fake answer to: One x", "two": "fake answer to: Two x"}


def test_bad_input_gets_the_openai_error_shape(oai: openai.OpenAI, client: httpx.Client) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        oai.chat.completions.create(model="pair", messages=[{"role": "user", "content": "hi"}])
    assert "component 'pair' takes the inputs a, b" in caught.value.message
    assert caught.value.code == "invalid_inputs"
    with pytest.raises(openai.NotFoundError) as missing:
        oai.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert "no component 'nope'" in missing.value.message
    raw = client.post("/v1/chat/completions", json={"model": "summarizer", "messages": []})
    assert raw.status_code == 422
    assert raw.json()["error"]["type"] == "invalid_request_error"
    assert raw.json()["error"]["param"] == "messages"


def test_chat_streams_the_llm_tokens(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="summarizer", messages=[{"role": "user", "content": "the long sea"}],
        stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(deltas) == "fake answer to: Sum up the long sea"
    assert len(deltas) > 3  # the LLM's tokens, not one piece
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_agent_streams_and_answers_its_last_message(oai: openai.OpenAI,
                                                    llm: FakeLlmServer) -> None:
    llm.script("hello", "Hello there, friend")
    stream = oai.chat.completions.create(model="helper", stream=True,
                                         messages=[{"role": "user", "content": "hello"}])
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello there, friend"


def test_client_tool_round_trip(oai: openai.OpenAI, llm: FakeLlmServer,
                                client: httpx.Client) -> None:
    llm.script_sequence([[ScriptedToolCall("weather", {"city": "Paris"})],
                         "It is sunny in Paris"], match="weather")
    asked = oai.chat.completions.create(model="forecaster", messages=[
        {"role": "user", "content": "weather in Paris?"}])
    message = asked.choices[0].message
    assert asked.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls and message.tool_calls[0].function.name == "weather"
    call = message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    run_id, _, request_id = call.id.rpartition(".")
    run = client.get(f"/v1/runs/{run_id}").json()
    assert run["status"] == "waiting" and run["pending"][0]["id"] == request_id
    with pytest.raises(openai.UnprocessableEntityError) as other:
        oai.chat.completions.create(model="helper", messages=[
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
    assert "is a run of 'forecaster', not of 'helper'" in other.value.message
    done = oai.chat.completions.create(model="forecaster", messages=[
        {"role": "user", "content": "weather in Paris?"},
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
    assert done.choices[0].message.content == "It is sunny in Paris"
    tool_result = client.get(f"/v1/runs/{run_id}").json()["messages"][2]
    assert tool_result["role"] == "tool" and tool_result["content"] == "sunny"
    with pytest.raises(openai.ConflictError):  # answered already
        oai.chat.completions.create(model="forecaster", messages=[
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])


def test_responses_with_and_without_streaming(oai: openai.OpenAI) -> None:
    done = oai.responses.create(model="summarizer", input="the sky")
    assert done.output_text == "fake answer to: Sum up the sky"
    assert done.usage is not None and done.usage.output_tokens > 0
    events = list(oai.responses.create(model="summarizer", input="the grey sky", stream=True))
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == "fake answer to: Sum up the grey sky" and len(deltas) > 3
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "fake answer to: Sum up the grey sky"


def test_previous_response_id_continues_the_conversation(oai: openai.OpenAI,
                                                         llm: FakeLlmServer) -> None:
    llm.script_sequence(["Hi, who are you?", "Nice to meet you, Ada"], match=None,
                        system="Be kind")
    first = oai.responses.create(model="helper", input="hello")
    assert first.output_text == "Hi, who are you?"
    second = oai.responses.create(model="helper", input="I am Ada",
                                  previous_response_id=first.id)
    assert second.output_text == "Nice to meet you, Ada"
    assert llm.requests[-1]["messages"][-1]["content"] == "I am Ada"
    assert len(llm.requests[-1]["messages"]) == 4  # system, hello, hi, I am Ada


def test_responses_client_tool_round_trip(oai: openai.OpenAI, llm: FakeLlmServer) -> None:
    llm.script_sequence([[ScriptedToolCall("weather", {"city": "Oslo"})],
                         "Snow in Oslo"], match="weather")
    asked = oai.responses.create(model="forecaster", input="weather in Oslo?")
    calls = [item for item in asked.output if item.type == "function_call"]
    assert [call.name for call in calls] == ["weather"]
    done = oai.responses.create(model="forecaster", previous_response_id=asked.id, input=[
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "snow"}])
    assert done.output_text == "Snow in Oslo"
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        oai.responses.create(model="forecaster", input="x", previous_response_id="nope")
    assert "no response id" in caught.value.message


def test_previous_response_id_on_another_server_of_the_store(make_server: Any,
                                                            llm: FakeLlmServer) -> None:
    """Response ids map to runs in the store: a second server (a restart) goes on."""
    llm.script_sequence(["Your name?", "Hello, Bo"], match=None, system="Be kind")
    first, second = make_server(), make_server()
    one, two = (openai.OpenAI(base_url=str(c.base_url).rstrip("/") + "/v1", api_key="x",
                              max_retries=0) for c in (first, second))
    asked = one.responses.create(model="helper", input="hi")
    done = two.responses.create(model="helper", input="Bo", previous_response_id=asked.id)
    assert done.output_text == "Hello, Bo"
