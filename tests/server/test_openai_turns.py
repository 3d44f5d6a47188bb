"""The OpenAI door's confirmations (a ``loom_confirm`` tool call, answered approve or
deny) and multi-turn chats (an agent sees the earlier turns), read by the official
``openai`` client, streaming and not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from cli.flows import chain, prop
from loom.spec import Agent, ServerTool, ToolNode
from loom.testing import FakeLlmServer, ScriptedToolCall

from .conftest import Release
from .helpers import llm as llm_of
from .helpers import summarizer, write_configs


@pytest.fixture
def configs(tmp_path: Path, llm: FakeLlmServer) -> Path:
    guarded = ServerTool(name="slow", inputs=[prop("x")], outputs=[prop("y")],
                         requires_confirmation=True)
    return write_configs(
        tmp_path / "configs", summarizer=summarizer(llm.url),
        guarded=chain("guarded", ToolNode(name="slow", tool=guarded), inputs=(prop("x"),),
                      outputs=(prop("y"),)),
        careful=Agent(name="careful", llm_config=llm_of(llm.url), system_prompt="Ask first",
                      tools=[guarded]),
        helper=Agent(name="helper", llm_config=llm_of(llm.url), system_prompt="Be kind"))


@pytest.fixture
def oai(client: httpx.Client, release: Release) -> openai.OpenAI:
    release.event.set()  # the tool 'slow' returns at once
    return openai.OpenAI(base_url=str(client.base_url).rstrip("/") + "/v1", api_key="unused",
                         max_retries=0)


def test_an_agents_confirmation_is_a_loom_confirm_call(oai: openai.OpenAI,
                                                       llm: FakeLlmServer) -> None:
    llm.script_sequence([[ScriptedToolCall("slow", {"x": "files"})], "Deleted the files"],
                        match="clean up")
    asked = oai.chat.completions.create(model="careful", messages=[
        {"role": "user", "content": "clean up"}])
    assert asked.choices[0].finish_reason == "tool_calls"
    message = asked.choices[0].message
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.function.name == "loom_confirm"
    arguments = json.loads(call.function.arguments)
    assert arguments["tool"] == "slow" and arguments["arguments"] == {"x": "files"}
    assert "Run tool 'slow'" in arguments["question"]
    follow = [{"role": "user", "content": "clean up"}, message.model_dump(exclude_none=True)]
    with pytest.raises(openai.UnprocessableEntityError) as unclear:
        oai.chat.completions.create(model="careful", messages=[
            *follow, {"role": "tool", "tool_call_id": call.id, "content": "maybe"}])
    assert "answered 'approve' or 'deny', not 'maybe'" in unclear.value.message
    done = oai.chat.completions.create(model="careful", messages=[
        *follow, {"role": "tool", "tool_call_id": call.id, "content": "approve"}])
    assert done.choices[0].message.content == "Deleted the files"
    assert llm.requests[-1]["messages"][-1]["content"] == "files"  # the tool ran


def test_a_denied_confirmation_streams_back_the_refusal(oai: openai.OpenAI,
                                                        llm: FakeLlmServer) -> None:
    llm.script_sequence([[ScriptedToolCall("slow", {"x": "db"})], "I did not touch it"],
                        match="drop")
    stream = oai.chat.completions.create(model="careful", stream=True, messages=[
        {"role": "user", "content": "drop the db"}])
    chunks = [chunk for chunk in stream if chunk.choices]
    calls = [c for chunk in chunks for c in chunk.choices[0].delta.tool_calls or []]
    assert [c.function.name for c in calls if c.function] == ["loom_confirm"]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    stream = oai.chat.completions.create(model="careful", stream=True, messages=[
        {"role": "tool", "tool_call_id": calls[0].id, "content": "deny"}])
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "I did not touch it"
    assert "refused" in llm.requests[-1]["messages"][-1]["content"]


def test_a_tool_nodes_confirmation_in_responses(oai: openai.OpenAI) -> None:
    asked = oai.responses.create(model="guarded", input="a")
    calls = [item for item in asked.output if item.type == "function_call"]
    assert [call.name for call in calls] == ["loom_confirm"]
    assert json.loads(calls[0].arguments)["arguments"] == {"x": "a"}
    done = oai.responses.create(model="guarded", previous_response_id=asked.id, input=[
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "approve"}])
    assert done.output_text == "a"  # the flow's one string output
    again = oai.responses.create(model="guarded", input="b")
    events = list(oai.responses.create(model="guarded", input="yes", stream=True,
                                       previous_response_id=again.id))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "b"  # a user message approves too


def test_a_multi_turn_chat_gives_an_agent_the_earlier_turns(oai: openai.OpenAI,
                                                            llm: FakeLlmServer) -> None:
    llm.script("What is my name", "You are Ada")
    history = [{"role": "system", "content": "client's own system prompt"},
               {"role": "user", "content": "I am Ada"},
               {"role": "assistant", "content": "Hello Ada"},
               {"role": "user", "content": "What is my name?"}]
    done = oai.chat.completions.create(model="helper", messages=history)
    assert done.choices[0].message.content == "You are Ada"
    sent = [(m["role"], m["content"]) for m in llm.requests[-1]["messages"]]
    assert sent == [("system", "Be kind"), ("user", "I am Ada"), ("assistant", "Hello Ada"),
                    ("user", "What is my name?")]
    stream = oai.chat.completions.create(model="helper", messages=history, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "You are Ada"
    assert len(llm.requests[-1]["messages"]) == 4
    items: Any = [{"role": m["role"], "content": m["content"]} for m in history[1:]]
    answered = oai.responses.create(model="helper", input=items)
    assert answered.output_text == "You are Ada"
    assert len(llm.requests[-1]["messages"]) == 4


def test_a_flow_starts_from_the_last_message(oai: openai.OpenAI) -> None:
    done = oai.chat.completions.create(model="summarizer", messages=[
        {"role": "user", "content": "the sea"}, {"role": "assistant", "content": "blue"},
        {"role": "user", "content": "the sky"}])
    assert done.choices[0].message.content == "fake answer to: Sum up the sky"


def test_bad_earlier_turns_are_refused_naming_them(client: httpx.Client) -> None:
    def chat(first: dict[str, Any]) -> httpx.Response:
        return client.post("/v1/chat/completions", json={"model": "helper", "messages": [
            first, {"role": "user", "content": "hi"}]})

    odd = chat({"role": "wizard", "content": "x"})
    assert odd.status_code == 422 and odd.json()["error"]["param"] == "messages[0].role"
    number = chat({"role": "assistant", "content": 7})
    assert number.status_code == 422
    assert number.json()["error"]["param"] == "messages[0].content"
