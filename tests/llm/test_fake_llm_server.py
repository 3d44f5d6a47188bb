"""The fake server itself, spoken to with plain httpx."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from loom.testing import FakeLlmServer, ToolCallsReply


def chat(
    srv: FakeLlmServer, text: str = "hi", path: str = "/v1/chat/completions", **extra: Any
) -> httpx.Response:
    headers = extra.pop("headers", {})
    body = {"model": "fake-model", "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(srv.base_url + path, json=body, headers=headers, timeout=10)


def sse_payloads(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    return [e[len("data: ") :] for e in events]


def test_url_and_lifecycle() -> None:
    server = FakeLlmServer()
    server.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", server.url)
        assert httpx.get(server.url + "/models").status_code == 200
        with pytest.raises(RuntimeError):
            server.start()
    finally:
        server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url + "/v1/models")


def test_models(srv: FakeLlmServer) -> None:
    for path in ("/v1/models", "/models"):
        data = httpx.get(srv.base_url + path).json()
        assert data["object"] == "list"
        assert [m["id"] for m in data["data"]] == ["fake-model"]


def test_default_answer_quotes_80_chars(srv: FakeLlmServer) -> None:
    long_text = "x" * 100
    answer = chat(srv, long_text, path="/chat/completions").json()
    message = answer["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "fake answer to: " + "x" * 80}
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "fake-model"


def test_invalid_requests_get_400(srv: FakeLlmServer) -> None:
    response = httpx.post(srv.url + "/chat/completions", json={"messages": []})
    assert response.status_code == 400
    assert "model" in response.json()["error"]["message"]
    response = httpx.post(srv.url + "/chat/completions", content=b"not json")
    assert response.status_code == 400
    assert srv.requests[-1] == "not json"


def test_scripts_first_match_wins(srv: FakeLlmServer) -> None:
    srv.script(re.compile(r"^capital of (\w+)"), "Paris")
    srv.script("capital", "never used for France")
    srv.script(lambda text: text.endswith("?"), lambda body: f"{len(body['messages'])} msg")
    srv.script("json", {"k": [1, 2]})

    def content(text: str) -> str:
        return str(chat(srv, text).json()["choices"][0]["message"]["content"])

    assert content("capital of France") == "Paris"
    assert content("the capital") == "never used for France"
    assert content("why?") == "1 msg"
    assert json.loads(content("some json")) == {"k": [1, 2]}
    assert content("other") == "fake answer to: other"


def test_sequence_ends_then_falls_through(srv: FakeLlmServer) -> None:
    srv.script_sequence(["first", "second"])
    messages = [{"role": "user", "content": "q"}]
    answers = []
    for _ in range(3):
        body = {"model": "m", "messages": messages}
        reply = httpx.post(srv.url + "/chat/completions", json=body).json()
        text = reply["choices"][0]["message"]["content"]
        answers.append(text)
        messages = messages + [{"role": "assistant", "content": text}]
    assert answers == ["first", "second", "fake answer to: q"]


def test_tool_calls_as_list_and_streamed(srv: FakeLlmServer) -> None:
    srv.script("tool", [{"name": "lookup", "arguments": {"q": "a long query string"}}])
    whole = chat(srv, "use a tool").json()["choices"][0]
    assert whole["finish_reason"] == "tool_calls"
    assert whole["message"]["tool_calls"][0]["function"]["name"] == "lookup"

    payloads = sse_payloads(chat(srv, "use a tool", stream=True))
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    arguments = "".join(
        d["tool_calls"][0]["function"]["arguments"] for d in deltas if "tool_calls" in d
    )
    assert json.loads(arguments) == {"q": "a long query string"}
    assert sum(1 for d in deltas if "tool_calls" in d) > 2
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_calls_reply_with_text(srv: FakeLlmServer) -> None:
    srv.script(None, ToolCallsReply([{"name": "f", "arguments": "{}"}], text="calling f"))
    message = chat(srv).json()["choices"][0]["message"]
    assert message["content"] == "calling f"
    assert message["tool_calls"][0]["function"]["arguments"] == "{}"


def test_stream_format_and_usage(srv: FakeLlmServer) -> None:
    payloads = sse_payloads(
        chat(srv, "one two three", stream=True, stream_options={"include_usage": True})
    )
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    words = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert "".join(words) == "fake answer to: one two three"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 3


def test_structured_json_object_mode(srv: FakeLlmServer) -> None:
    response = chat(srv, response_format={"type": "json_object"})
    assert json.loads(response.json()["choices"][0]["message"]["content"]) == {}


def test_fail_next_then_recovers(srv: FakeLlmServer) -> None:
    srv.fail_next(2, status=503)
    assert [chat(srv).status_code for _ in range(3)] == [503, 503, 200]
    assert chat(srv, headers={"X-Fake-Fail": "429"}).status_code == 429
    malformed = chat(srv, headers={"X-Fake-Fail": "malformed"})
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    assert chat(srv, headers={"X-Fake-Fail": "bogus"}).status_code == 400


def test_timeout_failure_holds_the_request(srv: FakeLlmServer) -> None:
    srv.fail_next(1, kind="timeout")
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(srv.url + "/chat/completions", json=body, timeout=0.3)
    # The held request notices that the client left, and ends.
    deadline = time.monotonic() + 2
    while srv.recorded[0].ended is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.recorded[0].ended is not None


def test_latency_from_server_and_header(srv: FakeLlmServer) -> None:
    srv.latency = 0.15
    chat(srv)
    chat(srv, headers={"X-Fake-Latency": "0"})
    first, second = srv.recorded
    assert (first.ended or 0) - first.started >= 0.15
    assert (second.ended or 0) - second.started < 0.15


def test_requests_record_bodies_and_headers(srv: FakeLlmServer) -> None:
    chat(srv, "q", temperature=0.5, headers={"Authorization": "Bearer k"})
    [entry] = srv.recorded
    assert entry.body["temperature"] == 0.5
    assert entry.headers["authorization"] == "Bearer k"
    assert entry.status == 200
    assert srv.requests == [entry.body]
    srv.clear_requests()
    assert srv.requests == []


def test_command_line_server() -> None:
    command = [sys.executable, "-m", "loom.testing.llm_server", "--port", "0", "--latency", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.search(r"http://127\.0\.0\.1:\d+/v1", line)
            assert match, line
            body = {"model": "m", "messages": [{"role": "user", "content": "cli"}]}
            answer = httpx.post(match.group(0) + "/chat/completions", json=body, timeout=10)
            assert answer.json()["choices"][0]["message"]["content"] == "fake answer to: cli"
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_recording_can_be_turned_off() -> None:
    with FakeLlmServer(record=False) as server:
        body = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
        assert httpx.post(server.url + "/chat/completions", json=body).status_code == 200
        assert server.requests == []


def test_accepted_connections_do_not_wait_for_nagle() -> None:
    """Accepted sockets get TCP_NODELAY from asyncio only when the listener says
    IPPROTO_TCP; without it every answer waited ~40 ms for a delayed ACK."""
    import asyncio
    import socket

    from loom.testing.fake_server import bind_socket

    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        listener = bind_socket(0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        try:
            _, writer = await asyncio.open_connection(*listener.getsockname())
            value = await asyncio.wait_for(seen, 5)
            writer.close()
            return value
        finally:
            server.close()

    assert asyncio.run(accepted_nodelay()) != 0
