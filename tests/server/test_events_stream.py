"""GET /v1/runs/{run_id}/events read by a real SSE client (httpx-sse)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, connect_sse

from .conftest import Release, until

TOKEN = "LlmGenerationChunkReceived"


def read(client: httpx.Client, run_id: str, headers: dict[str, str] | None = None,
         params: dict[str, Any] | None = None, stop_after: int | None = None,
         ) -> list[ServerSentEvent]:
    events: list[ServerSentEvent] = []
    with connect_sse(client, "GET", f"/v1/runs/{run_id}/events", headers=dict(headers or {}),
                     params=params) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for event in source.iter_sse():
            events.append(event)
            if stop_after is not None and len(events) == stop_after:
                break  # the connection drops here, as a proxy would drop it
    return events


def test_a_finished_run_replays_its_events_and_resumes_after_the_last_event_id(
    client: httpx.Client,
) -> None:
    run = client.post("/v1/components/summarizer/runs", params={"wait": 10},
                      json={"inputs": {"text": "loom"}}).json()
    events = read(client, run["run_id"])
    ids = [int(e.id) for e in events]
    assert ids == sorted(set(ids)) and ids[0] == 1
    kinds = [e.event for e in events]
    assert kinds[0] == "FlowExecutionStart" and kinds[-1] == "FlowExecutionEnd"
    assert {"LlmGenerationRequest", "LlmGenerationResponse"} <= set(kinds)
    assert TOKEN not in kinds  # not kept: their text is in the LLM response event
    for event in events:  # the --trace envelope, its type as the SSE event name
        data = json.loads(event.data)
        assert data["type"] == event.event and data["run_id"] == run["run_id"]
        assert {"span", "path", "timestamp"} <= set(data)
    response = next(json.loads(e.data) for e in events if e.event == "LlmGenerationResponse")
    assert "fake answer to: Sum up loom" in json.dumps(response)

    first = read(client, run["run_id"], stop_after=3)
    rest = read(client, run["run_id"], headers={"Last-Event-ID": first[-1].id})
    assert [e.id for e in first + rest] == [e.id for e in events]
    assert [e.data for e in first + rest] == [e.data for e in events]
    after = read(client, run["run_id"], params={"after": events[-3].id})
    assert [e.id for e in after] == [e.id for e in events[-2:]]


def test_a_live_stream_has_the_token_events_and_reconnects_through_last_event_id(
    make_server: Any, release: Release,
) -> None:
    client = make_server()
    run = client.post("/v1/components/slow_summary/runs", json={"inputs": {"x": "a"}}).json()
    until(release.started.is_set)
    first = read(client, run["run_id"], stop_after=2)  # dropped while the tool runs
    release.event.set()
    rest = read(client, run["run_id"], headers={"Last-Event-ID": first[-1].id})
    live = first + rest
    assert [int(e.id) for e in live] == list(range(1, len(live) + 1))
    assert TOKEN in {e.event for e in live} and live[-1].event == "FlowExecutionEnd"
    restarted = make_server()  # another server on the same store, after the run ended
    replayed = read(restarted, run["run_id"])
    assert [(e.id, e.event, e.data) for e in replayed] == [
        (e.id, e.event, e.data) for e in live if e.event != TOKEN]


def test_a_live_stream_follows_the_run_until_it_waits_then_goes_on_after_the_answer(
    client: httpx.Client,
) -> None:
    run = client.post("/v1/components/greeter/runs", json={}).json()
    first = read(client, run["run_id"])  # ends when the run waits
    assert first[-1].event == "FlowExecutionEnd"
    waiting = client.get(f"/v1/runs/{run['run_id']}").json()
    assert waiting["status"] == "waiting"
    [asked] = [json.loads(e.data) for e in first if e.event == "HumanInTheLoopRequest"]
    assert asked["request_id"] == waiting["pending"][0]["id"]
    answer = {waiting["pending"][0]["id"]: "Ada"}
    client.post(f"/v1/runs/{run['run_id']}/answers", params={"wait": 10},
                json={"answers": answer})
    more = read(client, run["run_id"], headers={"Last-Event-ID": first[-1].id})
    assert int(more[0].id) == int(first[-1].id) + 1
    assert more[-1].event == "FlowExecutionEnd"
    assert "Ada" in "".join(e.data for e in more)


def test_a_quiet_stream_gets_a_comment_every_heartbeat(make_server: Any, release: Release
                                                       ) -> None:
    client = make_server(heartbeat=0.2)
    run = client.post("/v1/components/slow/runs", json={"inputs": {"x": "a"}}).json()
    until(release.started.is_set)
    comments = 0
    began = time.monotonic()
    with client.stream("GET", f"/v1/runs/{run['run_id']}/events") as response:
        for line in response.iter_lines():
            if line.startswith(":"):
                comments += 1
                if comments == 3:
                    release.event.set()
            if line.startswith("event: FlowExecutionEnd"):
                break
    assert comments >= 3 and time.monotonic() - began < 10


def test_events_of_an_unknown_run_are_404(client: httpx.Client) -> None:
    response = client.get("/v1/runs/nope/events")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    bad = client.get("/v1/runs/nope/events", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 422
