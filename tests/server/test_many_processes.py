"""Two `loom serve` processes on one PostgreSQL store: a cancel sent to either ends a
run wherever it runs, an event stream on either follows it live, and the per-token
limit of runs going on counts both; `loom runs cancel` reaches a run a server runs. And
a cancel whose holder does not act on it answers 202."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from loom.cli import main
from loom.server import manager
from loom.stores.base import make_owner
from loom.stores.sqlite import SqliteStore

from .helpers import ServerProcess, write_configs
from .test_durability import _schema, midway, servers, wait_until

__all__ = ["servers"]  # the fixture, re-exported


@pytest.fixture
def store(postgres_url: str) -> Iterator[str]:
    """A store URL on a schema of its own (dropped at the end)."""
    schema = f"srv_{uuid.uuid4().hex[:10]}"
    _schema(postgres_url, schema)
    yield postgres_url + ("&" if "?" in postgres_url else "?") + \
        f"options=-csearch_path%3D{schema}"
    _schema(postgres_url, schema, drop=True)


@pytest.fixture
def pair(tmp_path: Path, servers: Any, store: str) -> Any:
    """``pair(*options)``: two servers on the store."""

    def start(*options: str) -> tuple[ServerProcess, ServerProcess]:
        write_configs(tmp_path / "configs", midway=midway())
        return servers(store, *options), servers(store, *options)

    return start


def clients(*processes: ServerProcess) -> list[httpx.Client]:
    return [httpx.Client(base_url=server.url, timeout=30) for server in processes]


def start_gated(client: httpx.Client, gate: Path, x: str) -> str:
    """A run of `midway` that stays in its `gated` tool until the gate opens."""
    (gate / "gated.started").unlink(missing_ok=True)
    run = client.post("/v1/components/midway/runs", json={"inputs": {"x": x}})
    assert run.status_code == 202, run.text
    wait_until(lambda: (gate / "gated.started").exists())
    run_id: str = run.json()["run_id"]
    return run_id


def test_a_cancel_ends_the_run_wherever_it_runs(
    tmp_path: Path, pair: Any, store: str, capsys: pytest.CaptureFixture[str],
) -> None:
    gate = tmp_path / "gate"
    one, two = pair()
    a, b = clients(one, two)
    # Sent to the process that does not run it: the holder cancels it within a second.
    run_id = start_gated(a, gate, "a")
    began = time.monotonic()
    cancelled = b.post(f"/v1/runs/{run_id}/cancel")
    took = time.monotonic() - began
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and took < 2.5, took
    assert cancelled.json()["error"]["message"] == "the run was cancelled"
    assert a.get(f"/v1/runs/{run_id}").json()["status"] == "cancelled"
    for client in (a, b):  # idempotent, on either
        again = client.post(f"/v1/runs/{run_id}/cancel")
        assert again.status_code == 200 and again.json()["status"] == "cancelled"

    # `loom runs cancel` (the local backend) asks the same way.
    by_cli = start_gated(a, gate, "b")
    began = time.monotonic()
    assert main(["runs", "cancel", by_cli, "--store", store, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"run_id": by_cli, "status": "cancelled"}
    assert time.monotonic() - began < 2.5
    assert a.get(f"/v1/runs/{by_cli}").json()["status"] == "cancelled"

    # A run whose process died (SIGKILL, its lease left behind) is cancelled at once.
    orphan = start_gated(a, gate, "c")
    a.close()
    one.kill()
    began = time.monotonic()
    cancelled = b.post(f"/v1/runs/{orphan}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert time.monotonic() - began < 1.0

    (gate / "open").write_text("")  # the abandoned tools end: their results go nowhere
    time.sleep(0.5)
    for ended in (run_id, by_cli, orphan):
        done = b.get(f"/v1/runs/{ended}").json()
        assert done["status"] == "cancelled" and done["outputs"] == {}
    assert (gate / "first.calls").read_text() == "a\nb\nc\n"  # nothing ran again
    b.close()


def read(client: httpx.Client, run_id: str, last_id: str | None = None,
         stop_after: int | None = None) -> list[ServerSentEvent]:
    headers = {"Last-Event-ID": last_id} if last_id else {}
    events: list[ServerSentEvent] = []
    with connect_sse(client, "GET", f"/v1/runs/{run_id}/events", headers=headers) as source:
        for event in source.iter_sse():
            events.append(event)
            if len(events) == stop_after:
                break  # dropped, as a proxy would drop it
    return events


def test_an_event_stream_on_the_other_process_follows_the_run_live(
    tmp_path: Path, pair: Any,
) -> None:
    gate = tmp_path / "gate"
    a, b = clients(*pair())
    run_id = start_gated(a, gate, "a")
    began = time.monotonic()
    first = read(b, run_id, stop_after=4)  # the run is in its gated tool meanwhile
    assert time.monotonic() - began < 5.0
    assert [e.event for e in first][:1] == ["FlowExecutionStart"]
    assert b.get(f"/v1/runs/{run_id}").json()["status"] == "running"
    assert not (gate / "open").exists()
    (gate / "open").write_text("")
    rest = read(b, run_id, last_id=first[-1].id)  # until the run ends
    live = first + rest
    assert [int(e.id) for e in live] == list(range(1, len(live) + 1))
    assert live[-1].event == "FlowExecutionEnd" and json.loads(live[-1].data)["run_id"] == run_id
    assert a.get(f"/v1/runs/{run_id}").json()["status"] == "finished"
    replayed = read(a, run_id)  # what the process that ran it tells
    assert [(e.id, e.event, e.data) for e in replayed] == [(e.id, e.event, e.data) for e in live]
    a.close()
    b.close()


def test_the_limit_of_runs_per_token_counts_the_runs_of_both_processes(
    tmp_path: Path, pair: Any,
) -> None:
    gate = tmp_path / "gate"
    tokens = tmp_path / "tokens"
    tokens.write_text("alpha\nbeta\n")
    a, b = clients(*pair("--token-file", str(tokens), "--max-runs-per-token", "2"))
    alpha, beta = {"Authorization": "Bearer alpha"}, {"Authorization": "Bearer beta"}

    def start(client: httpx.Client, who: dict[str, str], x: str) -> httpx.Response:
        return client.post("/v1/components/midway/runs", json={"inputs": {"x": x}},
                           headers=who)

    assert start(a, alpha, "1").status_code == 202
    assert start(b, alpha, "2").status_code == 202  # one on each process
    for client in (a, b):
        refused = start(client, alpha, "3")
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "too_many_runs"
    assert start(b, beta, "4").status_code == 202  # another token has its own
    listed = a.get("/v1/runs", headers=alpha).json()["data"]
    assert [run["status"] for run in listed] == ["running"] * 3  # the refused ones are gone
    (gate / "open").write_text("")
    wait_until(lambda: all(run["status"] == "finished" for run in
                           a.get("/v1/runs", headers=alpha).json()["data"]))
    assert start(a, alpha, "5").status_code == 202
    a.close()
    b.close()


def test_a_cancel_the_holder_does_not_act_on_answers_202_and_stays_asked(
    tmp_path: Path, make_server: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(manager, "CANCEL_WAIT", 0.5)
    client = make_server()
    run = client.post("/v1/components/two_asks/runs", params={"wait": 10}, json={}).json()
    store = SqliteStore(tmp_path / "server.sqlite3")
    owner = make_owner()
    store.claim(run["run_id"], owner)  # held by a live process that is no server
    try:
        asked = client.post(f"/v1/runs/{run['run_id']}/cancel")
        assert asked.status_code == 202, asked.text
        assert asked.json()["cancel_requested"] is True
        assert asked.json()["status"] == "waiting"
        assert store.cancel_requests() == [run["run_id"]]
    finally:
        store.release(run["run_id"], owner)
        store.close()
    done = client.post(f"/v1/runs/{run['run_id']}/cancel")  # nobody holds it now
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    assert "cancel_requested" not in done.json()
