"""The components and runs API over real HTTP."""

from __future__ import annotations

import time

import httpx

from .conftest import Release, until


def test_probes_and_components(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    listed = client.get("/v1/components").json()["data"]
    by_id = {item["id"]: item for item in listed}
    assert sorted(by_id) == ["greeter", "slow", "slow_summary", "summarizer", "two_asks"]
    assert by_id["summarizer"] == {
        "id": "summarizer", "component_type": "Flow", "name": "summarizer",
        "inputs": {"type": "object", "properties": {"text": {"title": "text", "type": "string"}},
                   "required": ["text"]},
        "outputs": {"type": "object",
                    "properties": {"summary": {"title": "summary", "type": "string"}},
                    "required": ["summary"]},
    }
    document = client.get("/v1/components/summarizer").json()
    assert document["component_type"] == "Flow" and document["name"] == "summarizer"
    graph = client.get("/v1/components/greeter/graph").json()
    assert {node["name"] for node in graph["nodes"]} >= {"start", "ask", "greet", "end"}
    mermaid = client.get("/v1/components/greeter/graph", params={"format": "mermaid"})
    assert mermaid.text.startswith("flowchart") and "ask" in mermaid.text
    missing = client.get("/v1/components/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "no component 'nope'",
                                        "where": "nope"}}


def test_the_graph_carries_data_edges_when_asked(client: httpx.Client) -> None:
    url = "/v1/components/summarizer/graph"
    control = client.get(url).json()
    assert {edge["kind"] for edge in control["edges"]} == {"control"}
    graph = client.get(url, params={"data": "1"}).json()
    names = {node["id"]: node["name"] for node in graph["nodes"]}
    data = {(names[e["source"]], names[e["target"]], e["label"])
            for e in graph["edges"] if e["kind"] == "implicit"}  # wired by name
    assert data == {("start", "summarize", "text"), ("summarize", "end", "summary")}
    assert [e for e in graph["edges"] if e["kind"] == "control"] == control["edges"]
    mermaid = client.get(url, params={"format": "mermaid", "data": "1"}).text
    assert mermaid.count("-.->") == 2
    wrong = client.get(url, params={"data": "yes"})
    assert wrong.status_code == 422 and wrong.json()["error"]["where"] == "data"


def test_a_run_is_started_in_the_background_and_waited_for(client: httpx.Client) -> None:
    started = client.post("/v1/components/summarizer/runs", params={"wait": 10},
                          json={"inputs": {"text": "loom"}})
    assert started.status_code == 202
    data = started.json()
    assert data == {"status": "finished", "outputs": {"summary": "fake answer to: Sum up loom"},
                    "messages": [], "error": None, "run_id": data["run_id"],
                    "component": "summarizer"}
    assert client.get(f"/v1/runs/{data['run_id']}").json() == data


def test_a_client_run_id_makes_starting_idempotent(client: httpx.Client) -> None:
    body = {"inputs": {"text": "a"}, "run_id": "mine-1"}
    first = client.post("/v1/components/summarizer/runs", params={"wait": 10}, json=body)
    assert first.status_code == 202
    again = client.post("/v1/components/summarizer/runs", json=body)
    assert again.status_code == 200 and again.json() == first.json()
    other = client.post("/v1/components/summarizer/runs",
                        json={"inputs": {"text": "b"}, "run_id": "mine-1"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"


def test_bad_inputs_are_refused_naming_the_input(client: httpx.Client) -> None:
    missing = client.post("/v1/components/summarizer/runs", json={"inputs": {}})
    assert missing.status_code == 422
    assert missing.json()["error"] == {
        "code": "invalid_inputs", "where": "inputs.text",
        "message": "component 'summarizer' needs input 'text', which was not given"}
    typed = client.post("/v1/components/summarizer/runs", json={"inputs": {"text": 3}})
    assert typed.status_code == 422 and "declared string, not integer" in \
        typed.json()["error"]["message"]
    extra = client.post("/v1/components/summarizer/runs",
                        json={"inputs": {"text": "a", "other": 1}})
    assert extra.status_code == 422 and extra.json()["error"]["where"] == "inputs.other"
    broken = client.post("/v1/components/summarizer/runs", content=b"{not json",
                         headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"


def test_two_pending_answers_of_a_parallel_node_in_two_calls(client: httpx.Client) -> None:
    waiting = client.post("/v1/components/two_asks/runs", params={"wait": 10}, json={}).json()
    assert waiting["status"] == "waiting"
    run_id = waiting["run_id"]
    pending = {item["prompt"]: item for item in waiting["pending"]}
    assert sorted(pending) == ["a?", "b?"]
    assert all(item["answer_schema"] == {"type": "string"} for item in pending.values())
    wrong = client.post(f"/v1/runs/{run_id}/answers",
                        json={"answers": {pending["a?"]["id"]: 42}})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "invalid_answer"

    first = client.post(f"/v1/runs/{run_id}/answers", params={"wait": 10},
                        json={"answers": {pending["a?"]["id"]: "yes"}}).json()
    assert first["status"] == "waiting"
    assert [item["prompt"] for item in first["pending"]] == ["b?"]
    again = client.post(f"/v1/runs/{run_id}/answers",
                        json={"answers": {pending["a?"]["id"]: "yes"}})
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_pending"

    done = client.post(f"/v1/runs/{run_id}/answers", params={"wait": 10},
                       json={"answers": {pending["b?"]["id"]: "no"}}).json()
    assert done["status"] == "finished"
    assert done["outputs"] == {"answer_a": "yes", "answer_b": "no"}
    late = client.post(f"/v1/runs/{run_id}/answers",
                       json={"answers": {pending["b?"]["id"]: "no"}})
    assert late.status_code == 409 and late.json()["error"]["code"] == "not_waiting"


def test_cancel_during_a_slow_tool_ends_the_run_within_a_second(
    client: httpx.Client, release: Release
) -> None:
    run = client.post("/v1/components/slow/runs", json={"inputs": {"x": "a"}}).json()
    assert run["status"] == "running"
    until(release.started.is_set)
    began = time.monotonic()
    cancelled = client.post(f"/v1/runs/{run['run_id']}/cancel")
    took = time.monotonic() - began
    assert cancelled.status_code == 200 and took < 1.0, took
    assert cancelled.json()["status"] == "cancelled"
    assert client.get(f"/v1/runs/{run['run_id']}").json()["status"] == "cancelled"
    again = client.post(f"/v1/runs/{run['run_id']}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    release.event.set()
    time.sleep(0.2)  # the abandoned tool ends; the run stays cancelled
    assert client.get(f"/v1/runs/{run['run_id']}").json()["status"] == "cancelled"


def test_a_waiting_run_is_cancelled_and_deleted(client: httpx.Client) -> None:
    run = client.post("/v1/components/greeter/runs", params={"wait": 10}, json={}).json()
    assert run["status"] == "waiting"
    assert client.post(f"/v1/runs/{run['run_id']}/cancel").json()["status"] == "cancelled"
    assert client.delete(f"/v1/runs/{run['run_id']}").status_code == 204
    assert client.get(f"/v1/runs/{run['run_id']}").status_code == 404


def test_runs_are_listed_by_status_and_component_page_by_page(client: httpx.Client) -> None:
    ids = [client.post("/v1/components/summarizer/runs", params={"wait": 10},
                       json={"inputs": {"text": str(i)}}).json()["run_id"] for i in range(3)]
    waiting = client.post("/v1/components/greeter/runs", params={"wait": 10}, json={}).json()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"component": "summarizer", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/runs", params=params).json()
        seen += [item["run_id"] for item in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    only = client.get("/v1/runs", params={"status": "waiting"}).json()["data"]
    assert [item["run_id"] for item in only] == [waiting["run_id"]]
    bad = client.get("/v1/runs", params={"status": "lost"})
    assert bad.status_code == 422
