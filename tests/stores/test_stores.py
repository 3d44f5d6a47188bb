"""The checkpoint stores, on SQLite and PostgreSQL: rows, claims and leases, corrupt rows."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.errors import CheckpointError, RunNotFound
from loom.runs import RunState, flow_digest
from loom.spec import InputMessageNode, StartNode
from loom.stores import MemoryStore, default_store_url, open_store
from loom.stores.base import describe_owner, make_owner
from loom.stores.postgres import PostgresStore
from loom.stores.sqlite import SqliteStore

FLOW = {"component_type": "Flow", "name": "demo", "nodes": []}


def state(run_id: str, status: str = "waiting", owner: str | None = None, **extra: Any
          ) -> RunState:
    now = time.time()
    pending = [{"id": "abc", "kind": "input", "node": "demo > ask", "key": "demo>ask#1",
                "prompt": "?", "tool_call": None}] if status == "waiting" else []
    return RunState(run_id=run_id, status=status, flow=FLOW, digest=flow_digest(FLOW),  # type: ignore[arg-type]
                    pending=pending, created_at=now, updated_at=now, owner=owner, **extra)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def row(backend: Any, run_id: str) -> tuple[Any, str]:
    """(owner, state text) read straight from the table."""
    if backend.kind == "sqlite":
        with sqlite3.connect(backend.spec["path"]) as db:
            found = db.execute("SELECT owner, state FROM loom_runs WHERE run_id = ?",
                               (run_id,)).fetchone()
    else:
        import psycopg

        with psycopg.connect(backend.spec["dsn"]) as db:
            found = db.execute(f"SELECT owner, state FROM {backend.spec['table']} "
                               "WHERE run_id = %s", (run_id,)).fetchone()
    assert found is not None
    return found[0], found[1]


def set_lease(backend: Any, run_id: str, lease_at: float) -> None:
    if backend.kind == "sqlite":
        with sqlite3.connect(backend.spec["path"]) as db:
            db.execute("UPDATE loom_runs SET lease_at = ? WHERE run_id = ?", (lease_at, run_id))
    else:
        import psycopg

        with psycopg.connect(backend.spec["dsn"]) as db:
            db.execute(f"UPDATE {backend.spec['table']} SET lease_at = %s WHERE run_id = %s",
                       (lease_at, run_id))


def write_text(backend: Any, run_id: str, text: str) -> None:
    """Overwrite a run's state text behind the store's back."""
    if backend.kind == "sqlite":
        with sqlite3.connect(backend.spec["path"]) as db:
            db.execute("UPDATE loom_runs SET state = ? WHERE run_id = ?", (text, run_id))
    else:
        import psycopg

        with psycopg.connect(backend.spec["dsn"]) as db:
            db.execute(f"UPDATE {backend.spec['table']} SET state = %s WHERE run_id = %s",
                       (text, run_id))


# --- rows -----------------------------------------------------------------------------------


def test_save_load_list_delete(store_backend: Any) -> None:
    store = store_backend.open()
    first = state("r1", inputs={"x": 1}, metadata={"cli": {"tools": ["/t.py"]}})
    first.entries["demo>t#1"] = {"outputs": {"y": "é"}, "branch": "next", "messages": []}
    store.save(first)
    time.sleep(0.01)
    store.save(state("r2", status="finished", outputs={"z": [1, 2]}))
    again = store_backend.open()  # a new connection sees both
    assert again.load("r1") == first
    assert again.load("r2").outputs == {"z": [1, 2]}
    summaries = again.list()
    assert [(s.run_id, s.status, s.flow_name, s.pending, s.owner) for s in summaries] == [
        ("r1", "waiting", "demo", 1, None), ("r2", "finished", "demo", 0, None)]
    assert again.delete("r1") is True
    assert again.delete("r1") is False
    with pytest.raises(RunNotFound) as caught:
        store.load("r1")
    assert "no run with id 'r1'" in str(caught.value)
    assert [s.run_id for s in store.list()] == ["r2"]


def test_sqlite_store_is_one_file_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "runs.sqlite3"
    with SqliteStore(path) as store:
        store.save(state("r1"))
    assert path.is_file()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --- claims and leases ------------------------------------------------------------------


def test_a_claimed_run_is_refused_to_a_second_owner_until_released(store_backend: Any) -> None:
    store = store_backend.open()
    store.save(state("r1"))
    me, other = make_owner(), make_owner()
    assert store.claim("r1", me).owner == me
    assert store.claim("r1", me).run_id == "r1"  # the holder may claim again
    with pytest.raises(CheckpointError) as caught:
        store_backend.open().claim("r1", other)
    assert f"run 'r1' is held by {describe_owner(me)}, which is still running it" \
        in str(caught.value)
    assert store.list()[0].owner == me
    store.release("r1", other)  # not the holder: nothing happens
    assert store.list()[0].owner == me
    store.release("r1", me)
    assert store_backend.open().claim("r1", other).owner == other


def test_a_run_held_by_a_dead_process_can_be_taken_over(store_backend: Any) -> None:
    store = store_backend.open()
    import socket

    dead = f"{socket.gethostname()}:{dead_pid()}:feed"
    store.save(state("r1", status="running", owner=dead))
    assert store.list()[0].owner == dead
    taken = store_backend.open().claim("r1", make_owner())
    assert taken.status == "running"
    # The dead process cannot write over the new holder's run any more.
    with pytest.raises(CheckpointError) as caught:
        store.save(state("r1", status="running", owner=dead))
    assert "run 'r1' was taken over by process" in str(caught.value)


def test_another_hosts_lease_holds_until_it_expires(store_backend: Any) -> None:
    store = store_backend.open(lease_timeout=600)
    store.save(state("r1", status="running", owner="elsewhere:123:abcd"))
    with pytest.raises(CheckpointError) as caught:
        store.claim("r1", make_owner())
    assert "held by process 123 on elsewhere" in str(caught.value)
    set_lease(store_backend, "r1", time.time() - 601)  # its last checkpoint, long ago
    assert store.claim("r1", "here:1:x").owner == "here:1:x"


def test_renewing_keeps_another_hosts_lease_and_only_the_holder_may_renew(
    store_backend: Any,
) -> None:
    store = store_backend.open(lease_timeout=600)
    holder = "elsewhere:123:abcd"
    store.save(state("r1", status="running", owner=holder))
    set_lease(store_backend, "r1", time.time() - 601)  # about to be taken over...
    assert store.renew("r1", holder) is True  # ...but the holder is alive and says so
    with pytest.raises(CheckpointError, match="held by process 123 on elsewhere"):
        store.claim("r1", make_owner())
    assert store.renew("r1", "here:1:x") is False  # not the holder: nothing renewed
    assert store.renew("missing", holder) is False
    set_lease(store_backend, "r1", time.time() - 601)
    assert store.claim("r1", "here:1:x").owner == "here:1:x"
    assert store.renew("r1", holder) is False  # taken over: the old holder learns it


def test_a_holders_delete_spares_a_run_another_process_took_over(store_backend: Any) -> None:
    store = store_backend.open()
    store.save(state("r1", status="running", owner="elsewhere:1:a"))
    assert store.delete("r1", "elsewhere:2:b") is False  # held by someone else: kept
    assert store.list()[0].owner == "elsewhere:1:a"
    assert store.delete("r1", "elsewhere:1:a") is True
    store.save(state("r2"))  # waiting: nobody holds it
    assert store.delete("r2", "elsewhere:2:b") is True
    store.save(state("r3", status="running", owner="elsewhere:1:a"))
    assert store.delete("r3") is True  # `loom runs delete`: no owner, always


def test_concurrent_claims_one_wins(store_backend: Any) -> None:
    store_backend.open().save(state("r1"))
    stores = [store_backend.open() for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def claim(store: Any) -> None:
        barrier.wait()
        try:
            store.claim("r1", make_owner())
            outcomes.append("won")
        except CheckpointError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("won") == 1
    assert all("is held by" in o for o in outcomes if o != "won")


def test_memory_store_follows_the_same_claim_rules() -> None:
    store = MemoryStore()
    store.save(state("r1"))
    me = make_owner()
    store.claim("r1", me)
    with pytest.raises(CheckpointError, match="is held by"):
        store.claim("r1", make_owner())
    assert store.renew("r1", me) is True and store.renew("r1", make_owner()) is False
    assert store.delete("r1", make_owner()) is False and store.list()[0].run_id == "r1"
    store.release("r1", me)
    assert store.renew("r1", me) is False
    store.claim("r1", make_owner())


# --- corrupt and foreign checkpoints ---------------------------------------------------------


def _foreign_digest(text: str) -> str:
    return text.replace('"name": "demo"', '"name": "tampered"')


@pytest.mark.parametrize(("corrupt", "expected"), [
    (lambda text: text[: len(text) // 2], "the checkpoint of run 'bad' is corrupt: not JSON"),
    (lambda text: '{"format": "someone.else/3", "data": 1}',
     "the checkpoint of run 'bad' is not a loom run state (format 'someone.else/3'"),
    (lambda text: "[1, 2]", "the checkpoint of run 'bad' is not a loom run state"),
    (_foreign_digest, "the checkpoint of run 'bad' is corrupt: its flow does not match"),
    (lambda text: text.replace('"entries": {}', '"entries": []'),
     "the checkpoint of run 'bad' is corrupt: bad type for entries"),
], ids=["truncated", "foreign-format", "not-an-object", "digest-mismatch", "bad-type"])
def test_a_corrupt_checkpoint_is_refused_and_nothing_else_is_touched(
    store_backend: Any, corrupt: Any, expected: str
) -> None:
    store = store_backend.open()
    for run_id in ("good_1", "bad", "good_2"):
        store.save(state(run_id))
    before = {run_id: row(store_backend, run_id) for run_id in ("good_1", "good_2")}
    original = row(store_backend, "bad")[1]
    broken = corrupt(original)
    assert broken != original
    write_text(store_backend, "bad", broken)

    for attempt in (store.load, lambda run_id: store.claim(run_id, make_owner())):
        with pytest.raises(CheckpointError) as caught:
            attempt("bad")
        assert expected in str(caught.value)
    assert row(store_backend, "bad") == (None, broken)  # not claimed, not rewritten
    # The other runs are as they were, and still load and claim.
    assert {run_id: row(store_backend, run_id) for run_id in before} == before
    assert store.load("good_1").run_id == "good_1"
    assert store.claim("good_2", make_owner()).run_id == "good_2"
    assert sorted(s.run_id for s in store.list()) == ["bad", "good_1", "good_2"]
    assert store.delete("bad") is True  # what the error's hint says to do works


def test_resuming_a_corrupt_checkpoint_is_a_clear_error(store_backend: Any) -> None:
    flow = loom.spec.Flow(
        name="f", start_node=(start := StartNode(name="start")),
        nodes=[start, ask := InputMessageNode(name="ask", message="?"),
               end := loom.spec.EndNode(name="end")],
        control_flow_connections=[
            loom.spec.ControlFlowEdge(name="a", from_node=start, to_node=ask),
            loom.spec.ControlFlowEdge(name="b", from_node=ask, to_node=end)],
    )
    with loom.Runtime(store=store_backend.open(), use_env=False) as rt:
        first, second = rt.run(flow, run_id="one"), rt.run(flow, run_id="two")
    assert first.status == second.status == "waiting"
    write_text(store_backend, "one", "{not json")
    with loom.Runtime(store=store_backend.open(), use_env=False) as rt:
        with pytest.raises(CheckpointError) as caught:
            rt.resume("one", {})
        assert "the checkpoint of run 'one' is corrupt: not JSON" in str(caught.value)
        done = rt.resume("two", {second.pending[0].id: "fine"})
    assert done.status == "finished"
    assert done.messages == [{"role": "assistant", "content": "?", "node": "ask"},
                             {"role": "user", "content": "fine"}]


# --- URLs ----------------------------------------------------------------------------------


def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///rel/runs.sqlite3")
    absolute = open_store(f"sqlite:///{tmp_path}/abs.sqlite3")
    plain = open_store(str(tmp_path / "plain.sqlite3"))
    try:
        assert isinstance(relative, SqliteStore) and relative.path == Path("rel/runs.sqlite3")
        assert isinstance(absolute, SqliteStore) and absolute.path == tmp_path / "abs.sqlite3"
        assert isinstance(plain, SqliteStore)
    finally:
        for store in (relative, absolute, plain):
            store.close()
    assert isinstance(open_store("memory:"), MemoryStore)
    for bad in ("redis://localhost", "sqlite://host/x", "sqlite:"):
        with pytest.raises(CheckpointError):
            open_store(bad)


def test_the_default_store_is_in_the_users_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LOOM_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_store_url() == f"sqlite:///{tmp_path}/data/loom/runs.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_url() == f"sqlite:///{tmp_path}/home/.local/share/loom/runs.sqlite3"
    monkeypatch.setenv("LOOM_STORE", "postgresql://u@h/db")
    assert default_store_url() == "postgresql://u@h/db"


def test_postgres_connection_errors_are_clear_and_hide_the_password() -> None:
    with pytest.raises(CheckpointError) as caught:
        PostgresStore("postgresql://loom:hunter2@127.0.0.1:1/nowhere", connect_timeout=2)
    message = str(caught.value)
    assert "cannot connect to the PostgreSQL store postgresql://loom:***@127.0.0.1:1/nowhere" \
        in message
    assert "hunter2" not in message


def test_urls_open_the_real_stores(store_backend: Any) -> None:
    spec = store_backend.spec
    url = spec["dsn"] if store_backend.kind == "postgres" else f"sqlite:///{spec['path']}"
    run_id = f"url-{uuid.uuid4().hex[:8]}"
    store = open_store(url)
    try:
        assert isinstance(store, PostgresStore if store_backend.kind == "postgres"
                          else SqliteStore)
        store.save(state(run_id, outputs={"x": 1}))
        # The URL names the database the backend uses: another connection sees the run.
        # (A PostgreSQL URL opens the default table; the backend's own table is another.)
        postgres = store_backend.kind == "postgres"
        other = open_store(url) if postgres else store_backend.open()  # the backend closes its own
        try:
            assert other.load(run_id).outputs == {"x": 1}
            assert run_id in [summary.run_id for summary in other.list()]
        finally:
            if postgres:
                other.close()
        assert store.delete(run_id) is True
    finally:
        store.close()
