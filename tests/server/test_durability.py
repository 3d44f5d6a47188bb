"""`loom serve` processes killed with SIGKILL and started again lose nothing; two
processes on one PostgreSQL store share the runs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from loom.spec import ServerTool, ToolNode
from loom.testing import FakeLlmServer

from .helpers import ServerProcess, chain, greeter, prop, two_asks, wait_status, write_configs

TOOLS = Path(__file__).with_name("gate_tools.py")


def midway() -> Any:
    first = ServerTool(name="first", inputs=[prop("x")], outputs=[prop("y")])
    gated = ServerTool(name="gated", inputs=[prop("y")], outputs=[prop("z")])
    return chain("midway", ToolNode(name="first", tool=first),
                 ToolNode(name="gated", tool=gated), inputs=[prop("x")], outputs=[prop("z")])


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Any]:
    """``start(store, *options)``: a `loom serve` process on the test's configs."""
    started: list[ServerProcess] = []
    gate = tmp_path / "gate"
    gate.mkdir()

    def start(store: str, *options: str) -> ServerProcess:
        server = ServerProcess([str(tmp_path / "configs"), "--store", store, "--tools",
                                str(TOOLS), *options],
                               env={"GATE_DIR": str(gate), "LOOM_SERVER_TOKENS": ""})
        started.append(server)
        return server

    yield start
    (gate / "open").write_text("")
    for server in started:
        server.stop()


def test_a_killed_server_loses_neither_a_waiting_run_nor_one_cut_short_midway(
    tmp_path: Path, servers: Any,
) -> None:
    gate = tmp_path / "gate"
    with FakeLlmServer() as llm:
        write_configs(tmp_path / "configs", greeter=greeter(llm.url), midway=midway())
        store = f"sqlite:///{tmp_path}/server.sqlite3"
        first = servers(store, "--checkpoint", "nodes")
        client = httpx.Client(base_url=first.url, timeout=30)
        waiting = client.post("/v1/components/greeter/runs", params={"wait": 10},
                              json={}).json()
        assert waiting["status"] == "waiting"
        cut = client.post("/v1/components/midway/runs", json={"inputs": {"x": "a"}}).json()
        wait_until(lambda: (gate / "gated.started").exists())
        first.kill()  # SIGKILL: no shutdown, no release, the run is held by a dead process
        client.close()

        (gate / "open").write_text("")
        second = servers(store, "--checkpoint", "nodes")
        client = httpx.Client(base_url=second.url, timeout=30)
        done = wait_status(client, cut["run_id"], ("finished", "failed"))
        assert done["status"] == "finished", done
        assert done["outputs"] == {"z": "a!?"}
        assert (gate / "first.calls").read_text() == "a\n"  # recorded: not run again
        again = client.get(f"/v1/runs/{waiting['run_id']}").json()
        assert again["status"] == "waiting" and again["pending"] == waiting["pending"]
        answered = client.post(f"/v1/runs/{waiting['run_id']}/answers", params={"wait": 10},
                               json={"answers": {waiting["pending"][0]["id"]: "Ada"}}).json()
        assert answered["status"] == "finished"
        assert answered["outputs"] == {"greeting": "fake answer to: Greet Ada"}
        events = client.get(f"/v1/runs/{cut['run_id']}/events").text
        assert "FlowExecutionEnd" in events
        client.close()


def test_a_run_cut_short_without_node_checkpoints_is_failed_with_the_reason(
    tmp_path: Path, servers: Any,
) -> None:
    gate = tmp_path / "gate"
    write_configs(tmp_path / "configs", midway=midway())
    store = f"sqlite:///{tmp_path}/server.sqlite3"
    first = servers(store)
    client = httpx.Client(base_url=first.url, timeout=30)
    cut = client.post("/v1/components/midway/runs", json={"inputs": {"x": "a"}}).json()
    wait_until(lambda: (gate / "gated.started").exists())
    first.kill()
    client.close()
    second = servers(store)
    client = httpx.Client(base_url=second.url, timeout=30)
    failed = client.get(f"/v1/runs/{cut['run_id']}").json()
    assert failed["status"] == "failed"
    assert "checkpoint=waits" in failed["error"]["message"]
    assert client.get("/v1/runs", params={"status": "running"}).json()["data"] == []
    client.close()


def test_two_servers_on_one_postgresql_store_share_the_runs(
    tmp_path: Path, servers: Any, postgres_url: str,
) -> None:
    dsn = postgres_url
    table = f"srv_{uuid.uuid4().hex[:10]}"
    store = dsn + ("&" if "?" in dsn else "?") + f"options=-csearch_path%3D{table}"
    _schema(dsn, table)
    try:
        with FakeLlmServer() as llm:
            write_configs(tmp_path / "configs", greeter=greeter(llm.url))
            one, two = servers(store), servers(store)
            a = httpx.Client(base_url=one.url, timeout=30)
            b = httpx.Client(base_url=two.url, timeout=30)
            clients = [a, b]
            run = a.post("/v1/components/greeter/runs", params={"wait": 10}, json={}).json()
            assert run["status"] == "waiting"
            assert b.get(f"/v1/runs/{run['run_id']}").json() == run
            done = b.post(f"/v1/runs/{run['run_id']}/answers", params={"wait": 10},
                          json={"answers": {run["pending"][0]["id"]: "Bo"}}).json()
            assert done["status"] == "finished"
            assert a.get(f"/v1/runs/{run['run_id']}").json() == done
            replay = a.get(f"/v1/runs/{run['run_id']}/events").text
            assert replay.count("event: FlowExecutionStart") == 2  # started on a, resumed on b
            for made in clients:
                made.close()
    finally:
        _schema(dsn, table, drop=True)


def _schema(dsn: str, name: str, drop: bool = False) -> None:
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f"DROP SCHEMA {name} CASCADE" if drop else f"CREATE SCHEMA {name}")


def wait_until(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)



def test_a_stopped_server_lets_its_runs_end_first(tmp_path: Path, servers: Any) -> None:
    gate = tmp_path / "gate"
    write_configs(tmp_path / "configs", midway=midway())
    store = f"sqlite:///{tmp_path}/server.sqlite3"
    first = servers(store)
    with httpx.Client(base_url=first.url, timeout=30) as client:
        run = client.post("/v1/components/midway/runs", json={"inputs": {"x": "d"}}).json()
    wait_until(lambda: (gate / "gated.started").exists())
    first.process.terminate()  # SIGTERM: a graceful shutdown drains
    time.sleep(0.5)
    assert first.process.poll() is None, "it stopped before its run ended"
    (gate / "open").write_text("")
    assert first.process.wait(20) in (0, -15)  # uvicorn ends by its signal once drained
    second = servers(store)
    with httpx.Client(base_url=second.url, timeout=30) as client:
        done = client.get(f"/v1/runs/{run['run_id']}").json()
    assert done["status"] == "finished" and done["outputs"] == {"z": "d!?"}


def test_workers_serve_one_port_and_share_the_runs(tmp_path: Path, servers: Any) -> None:
    write_configs(tmp_path / "configs", greeter=two_asks())
    server = servers(f"sqlite:///{tmp_path}/server.sqlite3", "--workers", "2")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        run = client.post("/v1/components/greeter/runs", params={"wait": 10}, json={}).json()
        assert run["status"] == "waiting"
        answers = {item["id"]: item["prompt"] for item in run["pending"]}
        done = client.post(f"/v1/runs/{run['run_id']}/answers", params={"wait": 10},
                           json={"answers": answers}).json()
        assert done["status"] == "finished", done
