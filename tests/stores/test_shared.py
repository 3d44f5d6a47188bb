"""What processes on one store coordinate through, on every store: cancel requests
(kept until the run ends), one-attempt cancels, per-key counts of held runs, and
the columns added to a table an older loom made."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from loom.stores.base import cancel_once, make_owner
from loom.stores.sqlite import SqliteStore

from .test_stores import dead_pid, state


def test_a_cancel_request_reaches_the_holder_and_goes_when_the_run_ends(
    any_store_backend: Any,
) -> None:
    store = any_store_backend.open()
    holder = make_owner()
    store.save(state("r1", "running", owner=holder))
    store.save(state("r2", "waiting"))
    other = any_store_backend.open()  # another process
    assert cancel_once(other, "r1") is None  # held by a live process: asked
    other.request_cancel("r1")  # again: one request
    assert store.cancel_requests() == ["r1"]
    running = store.load("r1")
    running.owner = holder
    store.save(running)  # the holder's checkpoints keep the request
    assert other.cancel_requests() == ["r1"]
    running.status = "waiting"
    store.save(running)  # it waits before its holder saw the request: nobody holds it
    assert store.cancel_requests() == []
    resumer = make_owner()
    resumed = other.claim("r1", resumer)  # answered: whoever resumes it is asked too
    assert store.cancel_requests() == ["r1"]
    resumed.status = "cancelled"
    other.save(resumed)
    assert store.cancel_requests() == []
    other.request_cancel("r1")  # a run that ended is asked nothing
    assert store.cancel_requests() == []

    ended = cancel_once(other, "r2")  # no holder: cancelled at once
    assert ended is not None and ended.status == "cancelled"
    assert store.load("r2").status == "cancelled" and store.load("r2").pending == []
    assert store.cancel_requests() == []


def test_a_run_whose_holder_died_is_cancelled_at_once(store_backend: Any) -> None:
    store = store_backend.open()
    store.save(state("r1", "running", owner=f"{make_owner().rsplit(':', 2)[0]}:"
                                             f"{dead_pid()}:gone"))
    ended = cancel_once(store_backend.open(), "r1")
    assert ended is not None and ended.status == "cancelled"
    assert store.load("r1").error == {"node": "demo", "message": "the run was cancelled"}
    assert store.list()[0].owner is None


def test_book_counts_the_held_runs_of_a_key_across_processes(any_store_backend: Any) -> None:
    first, second = any_store_backend.open(), any_store_backend.open()
    owners = [make_owner() for _ in range(3)]
    for index, owner in enumerate(owners):
        (first if index % 2 else second).save(state(f"r{index}", "running", owner=owner))
    assert first.book("r0", owners[0], "k", 2)
    assert second.book("r1", owners[1], "k", 2)
    assert first.book("r1", "someone else", "other", 0)  # not its holder: not tagged
    assert not second.book("r2", owners[2], "k", 2)  # the third: one too many
    assert first.book("r2", owners[2], "j", 2)  # another key counts apart
    waited = first.load("r0")
    waited.owner = owners[0]
    waited.status = "waiting"
    first.save(waited)  # no longer held: no longer counted
    assert second.book("r2", owners[2], "k", 2)


def test_dead_holders_do_not_count_past_the_limit(store_backend: Any) -> None:
    store = store_backend.open()
    host = make_owner().rsplit(":", 2)[0]
    dead = f"{host}:{dead_pid()}:gone"
    store.save(state("gone", "running", owner=dead))
    assert store.book("gone", dead, "k", 5)
    mine = make_owner()
    store.save(state("mine", "running", owner=mine))
    assert store.book("mine", mine, "k", 1)  # two held, one of them by a dead process


def test_an_older_table_gets_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE loom_runs (run_id TEXT PRIMARY KEY, status TEXT NOT NULL,"
                   " flow_name TEXT NOT NULL, pending INTEGER NOT NULL, owner TEXT,"
                   " lease_at REAL, created_at REAL NOT NULL, updated_at REAL NOT NULL,"
                   " state TEXT NOT NULL)")
    store = SqliteStore(path)
    owner = make_owner()
    store.save(state("r1", "running", owner=owner))
    store.request_cancel("r1")
    assert store.cancel_requests() == ["r1"] and store.book("r1", owner, "k", 1)
    store.close()
    SqliteStore(path).close()  # opened again: nothing to add
