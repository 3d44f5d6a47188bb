"""The embedded default store: one SQLite file, safe for several processes.

WAL mode and a busy timeout, so processes sharing the file wait for each other.
One row per run (status, flow name, pending count, holder and lease, times, the
state as JSON, a cancel request and a count key: see SharedStore); ``claim`` runs
in ``BEGIN IMMEDIATE``, so two processes cannot both take a run.
``synchronous=NORMAL``: a checkpoint survives a killed process; a power cut may
lose the last ones.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loom.errors import CheckpointError, RunNotFound
from loom.runs import RunState
from loom.stores.base import (
    DEFAULT_LEASE_TIMEOUT,
    SAVE_CANCEL,
    SHARED_SQL,
    EventRows,
    Rows,
    RunSummary,
    SqlShared,
    StoredEvent,
    StoredEvents,
    held_error,
    holder_alive,
    shared_ddl,
    state_row,
    taken_error,
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def check_table(table: str) -> str:
    if not _IDENT.match(table):
        raise ValueError(f"bad table name {table!r}: letters, digits and _ only")
    return table


class SqliteStore(SqlShared):
    """``SqliteStore("runs.sqlite3")``: runs kept in one SQLite file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "loom_runs",
        busy_timeout: float = 30.0,
        lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self.table = check_table(table)
        self.lease_timeout = lease_timeout
        self._lock = threading.Lock()
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " run_id TEXT PRIMARY KEY,"
                " status TEXT NOT NULL,"
                " flow_name TEXT NOT NULL,"
                " pending INTEGER NOT NULL,"
                " owner TEXT,"
                " lease_at REAL,"
                " created_at REAL NOT NULL,"
                " updated_at REAL NOT NULL,"
                " state TEXT NOT NULL)"
            )
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table}_events (run_id TEXT NOT NULL,"
                " seq INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,"
                " PRIMARY KEY (run_id, seq))"
            )
            for statement in shared_ddl(self.table, self._columns()):
                if statement.startswith("ALTER"):  # an older table: one process adds them
                    with self._transaction():
                        if statement.split()[5] not in self._columns():
                            self._db.execute(statement)
                else:
                    self._db.execute(statement)
        except (sqlite3.Error, OSError) as exc:
            raise CheckpointError(
                f"cannot open the SQLite store {path}: {exc}",
                hint="check the path and its permissions, or choose another with --store",
            ) from None

    def _columns(self) -> list[str]:
        return [c[0] for c in self._db.execute(f"SELECT * FROM {self.table} LIMIT 0").description]

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    @contextmanager
    def _transaction(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            except sqlite3.Error as exc:
                raise self._error("cannot start a transaction", exc) from None
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            try:
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                db.execute("ROLLBACK")
                raise self._error("cannot commit", exc) from None

    def _error(self, what: str, exc: sqlite3.Error) -> CheckpointError:
        return CheckpointError(f"SQLite store {self.path}: {what}: {exc}")

    def save(self, state: RunState) -> None:
        row = state_row(state, time.time())
        try:
            with self._lock:  # one statement: atomic without BEGIN ... COMMIT
                db = self._db
                # The holder's saves renew its lease; anyone else's are refused.
                cursor = db.execute(
                    f"INSERT INTO {self.table} (run_id, status, flow_name, pending, owner,"
                    " lease_at, created_at, updated_at, state) VALUES (:run_id, :status,"
                    " :flow_name, :pending, :owner, :lease_at, :created_at, :updated_at,"
                    " :state) ON CONFLICT (run_id) DO UPDATE SET status = excluded.status,"
                    " flow_name = excluded.flow_name, pending = excluded.pending,"
                    " owner = excluded.owner, lease_at = excluded.lease_at,"
                    " updated_at = excluded.updated_at, state = excluded.state, "
                    + SAVE_CANCEL.format(t=self.table)
                    + f" WHERE {self.table}.owner IS NULL OR {self.table}.owner = :me",
                    row,
                )
                if cursor.rowcount == 0:
                    holder = db.execute(
                        f"SELECT owner FROM {self.table} WHERE run_id = ?", (state.run_id,)
                    ).fetchone()
                    raise taken_error(state.run_id, holder[0] if holder else "?")
        except sqlite3.Error as exc:
            raise self._error(f"cannot save run '{state.run_id}'", exc) from None

    def load(self, run_id: str) -> RunState:
        try:
            with self._lock:
                row = self._db.execute(
                    f"SELECT state FROM {self.table} WHERE run_id = ?", (run_id,)
                ).fetchone()
        except sqlite3.Error as exc:
            raise self._error(f"cannot read run '{run_id}'", exc) from None
        if row is None:
            raise RunNotFound(f"no run with id '{run_id}' in {self!r}")
        return _parse(run_id, row[0])

    def claim(self, run_id: str, owner: str) -> RunState:
        now = time.time()
        try:
            with self._transaction() as db:
                row = db.execute(
                    f"SELECT owner, lease_at, state FROM {self.table} WHERE run_id = ?",
                    (run_id,),
                ).fetchone()
                if row is None:
                    raise RunNotFound(f"no run with id '{run_id}' in {self!r}")
                holder, lease_at, text = row
                if holder is not None and holder != owner and holder_alive(
                    holder, lease_at, now, self.lease_timeout
                ):
                    raise held_error(run_id, holder)
                state = _parse(run_id, text)
                db.execute(
                    f"UPDATE {self.table} SET owner = ?, lease_at = ? WHERE run_id = ?",
                    (owner, now, run_id),
                )
        except sqlite3.Error as exc:
            raise self._error(f"cannot claim run '{run_id}'", exc) from None
        state.owner = owner
        return state

    def release(self, run_id: str, owner: str) -> None:
        try:
            with self._lock:
                self._db.execute(
                    f"UPDATE {self.table} SET owner = NULL, lease_at = NULL"
                    " WHERE run_id = ? AND owner = ?",
                    (run_id, owner),
                )
        except sqlite3.Error as exc:
            raise self._error(f"cannot release run '{run_id}'", exc) from None

    def renew(self, run_id: str, owner: str) -> bool:
        try:
            with self._lock:
                cursor = self._db.execute(
                    f"UPDATE {self.table} SET lease_at = ? WHERE run_id = ? AND owner = ?",
                    (time.time(), run_id, owner),
                )
        except sqlite3.Error as exc:
            raise self._error(f"cannot renew the lease of run '{run_id}'", exc) from None
        return cursor.rowcount == 1

    def list(self) -> list[RunSummary]:
        try:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT run_id, status, flow_name, pending, created_at, updated_at, owner"
                    f" FROM {self.table} ORDER BY created_at, run_id"
                ).fetchall()
        except sqlite3.Error as exc:
            raise self._error("cannot list runs", exc) from None
        return [_summary(row) for row in rows]

    def delete(self, run_id: str, owner: str | None = None) -> bool:
        query = f"DELETE FROM {self.table} WHERE run_id = ?"
        params: tuple[str, ...] = (run_id,)
        if owner is not None:
            query += " AND (owner IS NULL OR owner = ?)"
            params += (owner,)
        try:
            with self._transaction() as db:
                deleted = db.execute(query, params).rowcount > 0
                if deleted:
                    db.execute(f"DELETE FROM {self.table}_events WHERE run_id = ?", (run_id,))
        except sqlite3.Error as exc:
            raise self._error(f"cannot delete run '{run_id}'", exc) from None
        return deleted

    def save_events(self, run_id: str, events: Sequence[StoredEvent]) -> None:
        self.append_events([(run_id, *event) for event in events])

    def append_events(self, rows: EventRows) -> None:
        try:
            with self._transaction() as db:
                db.executemany(f"INSERT OR IGNORE INTO {self.table}_events (run_id, seq, type,"
                               " data) VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise self._error("cannot save the events of run "
                              f"'{rows[0][0] if rows else ''}'", exc) from None

    def _shared(self, query: str, *params: Any) -> Rows:
        try:
            with self._lock:
                return self._db.execute(SHARED_SQL[query].format(t=self.table),
                                        params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(f"cannot {query.replace('_', ' ')}", exc) from None

    def load_events(self, run_id: str, after: int = 0) -> StoredEvents:
        try:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT seq, type, data FROM {self.table}_events WHERE run_id = ?"
                    " AND seq > ? ORDER BY seq", (run_id, after)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(f"cannot read the events of run '{run_id}'", exc) from None
        return [(int(seq), str(kind), str(data)) for seq, kind, data in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(run_id: str, text: Any) -> RunState:
    state = RunState.from_json(text, where=f"the checkpoint of run '{run_id}'")
    if state.run_id != run_id:
        raise CheckpointError(
            f"the checkpoint of run '{run_id}' is corrupt: it holds run '{state.run_id}'"
        )
    return state


def _summary(row: Any) -> RunSummary:
    run_id, status, flow_name, pending, created_at, updated_at, owner = row
    return RunSummary(str(run_id), str(status), str(flow_name), int(pending),
                      float(created_at), float(updated_at), owner)
