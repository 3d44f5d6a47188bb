"""loom's LLM client on what a real OpenAI-compatible server sent.

``fixtures/llama_cpp/*.json`` hold the bytes llama.cpp's server (llama-cpp-python,
with SmolLM2-135M-Instruct) answered to loom's requests: whole and streamed,
text and tool calls, with the usage chunk a stream ends on (re-record them with
``fixtures/record.py``). Here a small Starlette app serves those bytes again
over real HTTP, a streamed body one SSE event per write, and the client's result
is checked against what the bytes say, read independently below.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from loom.llm import LlmClient, LlmEndpoint, RetryPolicy, aclose_shared_http_client
from loom.testing import serve_asgi

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "llama_cpp"
CASES = sorted(path.stem for path in FIXTURES.glob("*.json"))
EXPECTED_CASES = ["plain", "plain_streamed", "tool_call", "tool_call_streamed"]


def fixture(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{case}.json").read_text())
    return data


def sse_events(body: str) -> list[str]:
    """The SSE events of a body, each with its blank-line terminator."""
    return [part + "\n\n" for part in body.replace("\r\n", "\n").split("\n\n") if part.strip()]


class Replay:
    """Serves one recorded answer at a time and keeps the requests it got."""

    def __init__(self) -> None:
        self.case: dict[str, Any] = {}
        self.requests: list[dict[str, Any]] = []

    async def chat(self, request: Request) -> Response:
        self.requests.append(json.loads(await request.body()))
        case = self.case
        if not case["content_type"].startswith("text/event-stream"):
            return Response(case["body"], status_code=case["status"],
                            media_type=case["content_type"])

        async def events() -> AsyncIterator[bytes]:
            for event in sse_events(case["body"]):
                yield event.encode("utf-8")

        return StreamingResponse(events(), status_code=case["status"],
                                 media_type=case["content_type"])


@pytest.fixture(scope="module")
def replay() -> Iterator[tuple[Replay, str]]:
    server = Replay()
    app = Starlette(routes=[Route("/v1/chat/completions", server.chat, methods=["POST"])])
    with serve_asgi(app) as url:
        yield server, url


@pytest.fixture(autouse=True)
async def _close_shared_client() -> AsyncIterator[None]:
    yield
    await aclose_shared_http_client()


def expected(case: dict[str, Any]) -> dict[str, Any]:
    """What the recorded bytes say: text, tool calls, finish reason, usage, deltas."""
    if not case["content_type"].startswith("text/event-stream"):
        data = json.loads(case["body"])
        message = data["choices"][0]["message"]
        return {
            "text": message.get("content") or "",
            "calls": [(c["function"]["name"], c["function"]["arguments"])
                      for c in message.get("tool_calls") or []],
            "finish_reason": data["choices"][0]["finish_reason"],
            "usage": {k: v for k, v in (data.get("usage") or {}).items() if isinstance(v, int)},
            "deltas": None,
        }
    chunks = [json.loads(event[len("data: "):].strip()) for event in sse_events(case["body"])
              if event.startswith("data: ") and event.strip() != "data: [DONE]"]
    deltas: list[str] = []
    calls: dict[int, list[str]] = {}
    finish = None
    usage: dict[str, int] = {}
    for chunk in chunks:
        if chunk.get("usage"):
            usage = {k: v for k, v in chunk["usage"].items() if isinstance(v, int)}
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                deltas.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call.get("index", 0), ["", ""])
                function = call.get("function") or {}
                # OpenAI names the function in the first chunk only; llama.cpp
                # repeats the name in every chunk: a name is not a fragment.
                slot[0] = slot[0] or function.get("name") or ""
                slot[1] += function.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return {"text": "".join(deltas), "calls": [tuple(calls[i]) for i in sorted(calls)],
            "finish_reason": finish, "usage": usage, "deltas": deltas}


def test_every_kind_of_payload_is_recorded() -> None:
    assert CASES == EXPECTED_CASES
    for name in CASES:
        case = fixture(name)
        assert case["status"] == 200 and "llama-cpp-python" in case["server"]
        assert case["content_type"].startswith(
            "text/event-stream" if case["request"].get("stream") else "application/json")


@pytest.mark.parametrize("name", CASES)
async def test_the_client_reads_what_a_real_server_sent(
    name: str, replay: tuple[Replay, str]
) -> None:
    server, url = replay
    case = server.case = fixture(name)
    request = case["request"]
    want = expected(case)
    tokens: list[str] = []
    client = LlmClient(LlmEndpoint(url=url, model=request["model"],
                                   retry=RetryPolicy(max_attempts=0)))
    result = await client.generate(request["messages"], tools=request.get("tools"),
                                   stream=bool(request.get("stream")), on_token=tokens.append)
    # loom sent what was recorded, but for the recorder's forced call ("auto" is loom's).
    sent = server.requests[-1]
    assert {k: v for k, v in sent.items() if k not in (*PARAMS, "tool_choice")} == {
        k: v for k, v in request.items() if k not in (*PARAMS, "tool_choice")}
    assert sent.get("tool_choice") == ("auto" if request.get("tools") else None)
    assert result.text == want["text"]
    assert [(c.name, c.arguments) for c in result.tool_calls] == want["calls"]
    assert result.finish_reason == want["finish_reason"]
    assert result.usage == want["usage"]
    if want["deltas"] is not None:
        assert tokens == want["deltas"]  # each text delta once, in order


PARAMS = ("temperature", "seed", "max_tokens")


def test_the_recordings_hold_what_they_are_kept_for() -> None:
    """A text answer, a tool call with JSON arguments, whole and streamed, so the
    test above takes each path of the client; and this server's quirks, which
    the client must take as they come."""
    plain, streamed = expected(fixture("plain")), expected(fixture("plain_streamed"))
    assert plain["text"] and streamed["text"] and len(streamed["deltas"]) > 1
    assert plain["usage"]["completion_tokens"] > 0
    for name in ("tool_call", "tool_call_streamed"):
        [(tool, arguments)] = expected(fixture(name))["calls"]
        assert tool == "get_weather" and json.loads(arguments) == {"city": "Lisbon"}
    # llama-cpp-python's server ignores stream_options.include_usage: a stream
    # ends with no usage chunk, so a streamed answer has no token counts.
    assert fixture("plain_streamed")["request"]["stream_options"] == {"include_usage": True}
    assert '"usage"' not in fixture("plain_streamed")["body"]
    assert streamed["usage"] == {}
    # It repeats the function's name (and the call id) in every chunk of a
    # streamed call, and sends the legacy function_call beside tool_calls.
    events = sse_events(fixture("tool_call_streamed")["body"])
    assert sum('"name": "get_weather"' in event for event in events) > 2
    assert '"function_call"' in fixture("tool_call")["body"]
