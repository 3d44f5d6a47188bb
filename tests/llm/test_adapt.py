"""What the client learns a server refuses (loom.llm.adapt), and what it reports
instead of adapting, against the fake server over real HTTP. The same refusals
from llama.cpp's real server are in tests/local."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest

from loom.errors import LoomWarning
from loom.llm import LlmClient, LlmEndpoint, RetryPolicy, aclose_shared_http_client
from loom.llm.adapt import text_tool_call
from loom.testing import FakeLlmServer

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}
ASK = [{"role": "user", "content": "Weather in Lisbon?"}]


@pytest.fixture(autouse=True)
async def _close_shared_client() -> AsyncIterator[None]:
    yield
    await aclose_shared_http_client()


def client_for(srv: FakeLlmServer) -> LlmClient:
    return LlmClient(LlmEndpoint(url=srv.url, model="fake-model",
                                 retry=RetryPolicy(max_attempts=0)))


async def test_tool_choice_auto_is_sent_with_tools_and_dropped_once_refused(
    srv: FakeLlmServer,
) -> None:
    srv.refuse_fields("tool_choice")
    client = client_for(srv)
    await client.generate(ASK, tools=[WEATHER])
    await client.generate(ASK, tools=[WEATHER])
    sent = [body.get("tool_choice") for body in srv.requests]
    assert sent == ["auto", None, None]  # refused once, then never sent again
    assert client.adaptations == {"tool_choice"}


async def test_an_unknown_refusal_fails_after_one_rewrite_at_most(srv: FakeLlmServer) -> None:
    srv.refuse_fields("tools")
    client = client_for(srv)
    with pytest.raises(Exception, match="tools"):
        await client.generate(ASK, tools=[WEATHER])
    assert len(srv.requests) == 2  # tool_choice dropped once (the error names a tool)...
    assert client.adaptations == {"tool_choice"}  # ...and nothing else was guessed


@pytest.mark.parametrize("text", [
    '{"name": "get_weather", "arguments": {"city": "Lisbon"}}',
    '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>',
    'functions.get_weather:\n{"city": "Lisbon"}',
])
def test_tool_calls_written_as_text_are_recognised(text: str) -> None:
    assert text_tool_call(text, [WEATHER]) == "get_weather"


@pytest.mark.parametrize("text", ["It is sunny in Lisbon.", '{"name": "Lisbon"}',
                                  "get_weather: sunny"])
def test_ordinary_answers_are_not_taken_for_tool_calls(text: str) -> None:
    assert text_tool_call(text, [WEATHER]) is None


async def test_a_tool_call_answered_as_text_is_reported_once(srv: FakeLlmServer) -> None:
    reply: Any = '{"name": "get_weather", "arguments": {"city": "Lisbon"}}'
    srv.script("Weather", reply)
    client = client_for(srv)
    with pytest.warns(LoomWarning, match="chatml-function-calling") as caught:
        answer = await client.generate(ASK, tools=[WEATHER])
    assert answer.tool_calls == [] and "get_weather" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await client.generate(ASK, tools=[WEATHER])  # said once per client
