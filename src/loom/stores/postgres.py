"""The server store: runs kept in PostgreSQL (psycopg 3, the ``postgres`` extra).

The rows and semantics of :class:`~loom.stores.sqlite.SqliteStore`; ``claim``
locks the row (``SELECT ... FOR UPDATE``), so processes on any hosts cannot both
take a run. One connection per store, used by one thread at a time, opened again
after the server dropped it.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from loom._optional import require
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
    masked,
    masked_url,
    shared_ddl,
    state_row,
    taken_error,
)
from loom.stores.sqlite import _parse, _summary, check_table


class PostgresStore(SqlShared):
    """``PostgresStore("postgresql://user@host/db")``: runs kept in PostgreSQL."""

    def __init__(
        self,
        dsn: str,
        *,
        table: str = "loom_runs",
        lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
        connect_timeout: float = 10.0,
    ) -> None:
        self.dsn = dsn
        self.table = check_table(table)
        self.lease_timeout = lease_timeout
        self.connect_timeout = connect_timeout
        self._psycopg: Any = require("psycopg", "postgres", "the PostgreSQL store",
                                     package="psycopg 3")
        self._lock = threading.Lock()
        self._conn: Any = None
        with self._transaction() as cur:
            # Two processes creating the table at once would collide: serialize them.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(self.table.encode()),))
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " run_id TEXT PRIMARY KEY,"
                " status TEXT NOT NULL,"
                " flow_name TEXT NOT NULL,"
                " pending INTEGER NOT NULL,"
                " owner TEXT,"
                " lease_at DOUBLE PRECISION,"
                " created_at DOUBLE PRECISION NOT NULL,"
                " updated_at DOUBLE PRECISION NOT NULL,"
                " state TEXT NOT NULL)"
            )
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table}_events (run_id TEXT NOT NULL,"
                " seq BIGINT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,"
                " PRIMARY KEY (run_id, seq))"
            )
            cur.execute(f"SELECT * FROM {self.table} LIMIT 0")
            for statement in shared_ddl(self.table, [c.name for c in cur.description]):
                cur.execute(statement)

    def __repr__(self) -> str:
        return f"PostgresStore({masked_url(self.dsn)!r})"

    def _connection(self) -> Any:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            try:
                conn = self._psycopg.connect(
                    self.dsn, autocommit=True,
                    connect_timeout=max(1, int(self.connect_timeout)),
                )
            except self._psycopg.Error as exc:
                raise CheckpointError(
                    masked(f"cannot connect to the PostgreSQL store {self.dsn}: "
                           f"{str(exc).strip()}", self.dsn),
                    hint="check that the server runs and the URL (user, host, port, "
                    "database) is right",
                ) from None
            self._conn = conn
        return conn

    @contextmanager
    def _transaction(self, what: str = "", single: bool = False) -> Iterator[Any]:
        """A cursor in a transaction; ``single``: one statement, atomic by itself
        in autocommit mode, saves the BEGIN and COMMIT round trips."""
        psycopg = self._psycopg
        with self._lock:
            conn = self._connection()
            try:
                if single:
                    with conn.cursor() as cur:
                        yield cur
                    return
                with conn.transaction(), conn.cursor() as cur:
                    yield cur
            except psycopg.Error as exc:
                raise CheckpointError(masked(
                    f"PostgreSQL store {self.dsn}: {what or 'query failed'}: "
                    f"{str(exc).strip()}", self.dsn)) from None

    def save(self, state: RunState) -> None:
        row = state_row(state, time.time())
        t = self.table
        with self._transaction(f"cannot save run '{state.run_id}'", single=True) as cur:
            # The holder's saves renew its lease; anyone else's are refused.
            cur.execute(
                f"INSERT INTO {t} (run_id, status, flow_name, pending, owner, lease_at,"
                " created_at, updated_at, state) VALUES (%(run_id)s, %(status)s,"
                " %(flow_name)s, %(pending)s, %(owner)s, %(lease_at)s, %(created_at)s,"
                " %(updated_at)s, %(state)s) ON CONFLICT (run_id) DO UPDATE SET"
                " status = excluded.status, flow_name = excluded.flow_name,"
                " pending = excluded.pending, owner = excluded.owner,"
                " lease_at = excluded.lease_at, updated_at = excluded.updated_at,"
                f" state = excluded.state, {SAVE_CANCEL.format(t=t)}"
                f" WHERE {t}.owner IS NULL OR {t}.owner = %(me)s",
                row,
            )
            if cur.rowcount == 0:
                cur.execute(f"SELECT owner FROM {t} WHERE run_id = %s", (state.run_id,))
                holder = cur.fetchone()
                raise taken_error(state.run_id, holder[0] if holder else "?")

    def load(self, run_id: str) -> RunState:
        with self._transaction(f"cannot read run '{run_id}'", single=True) as cur:
            cur.execute(f"SELECT state FROM {self.table} WHERE run_id = %s", (run_id,))
            row = cur.fetchone()
        if row is None:
            raise RunNotFound(f"no run with id '{run_id}' in {self!r}")
        return _parse(run_id, row[0])

    def claim(self, run_id: str, owner: str) -> RunState:
        now = time.time()
        with self._transaction(f"cannot claim run '{run_id}'") as cur:
            cur.execute(
                f"SELECT owner, lease_at, state FROM {self.table} WHERE run_id = %s"
                " FOR UPDATE",
                (run_id,),
            )
            row = cur.fetchone()
            if row is None:
                raise RunNotFound(f"no run with id '{run_id}' in {self!r}")
            holder, lease_at, text = row
            if holder is not None and holder != owner and holder_alive(
                holder, lease_at, now, self.lease_timeout
            ):
                raise held_error(run_id, holder)
            state = _parse(run_id, text)
            cur.execute(
                f"UPDATE {self.table} SET owner = %s, lease_at = %s WHERE run_id = %s",
                (owner, now, run_id),
            )
        state.owner = owner
        return state

    def release(self, run_id: str, owner: str) -> None:
        with self._transaction(f"cannot release run '{run_id}'", single=True) as cur:
            cur.execute(
                f"UPDATE {self.table} SET owner = NULL, lease_at = NULL"
                " WHERE run_id = %s AND owner = %s",
                (run_id, owner),
            )

    def renew(self, run_id: str, owner: str) -> bool:
        with self._transaction(f"cannot renew the lease of run '{run_id}'", single=True) as cur:
            cur.execute(
                f"UPDATE {self.table} SET lease_at = %s WHERE run_id = %s AND owner = %s",
                (time.time(), run_id, owner),
            )
            return bool(cur.rowcount == 1)

    def list(self) -> list[RunSummary]:
        with self._transaction("cannot list runs", single=True) as cur:
            cur.execute(
                "SELECT run_id, status, flow_name, pending, created_at, updated_at, owner"
                f" FROM {self.table} ORDER BY created_at, run_id"
            )
            rows = cur.fetchall()
        return [_summary(row) for row in rows]

    def delete(self, run_id: str, owner: str | None = None) -> bool:
        query = f"DELETE FROM {self.table} WHERE run_id = %s"
        params: tuple[str, ...] = (run_id,)
        if owner is not None:
            query += " AND (owner IS NULL OR owner = %s)"
            params += (owner,)
        with self._transaction(f"cannot delete run '{run_id}'") as cur:
            cur.execute(query, params)
            deleted = bool(cur.rowcount)
            if deleted:
                cur.execute(f"DELETE FROM {self.table}_events WHERE run_id = %s", (run_id,))
            return deleted

    def save_events(self, run_id: str, events: Sequence[StoredEvent]) -> None:
        self.append_events([(run_id, *event) for event in events])

    def append_events(self, rows: EventRows) -> None:
        what = f"cannot save the events of run '{rows[0][0] if rows else ''}'"
        with self._transaction(what) as cur:
            cur.executemany(
                f"INSERT INTO {self.table}_events (run_id, seq, type, data) VALUES"
                " (%s, %s, %s, %s) ON CONFLICT DO NOTHING", rows)

    def _shared(self, query: str, *params: Any) -> Rows:
        sql = SHARED_SQL[query].format(t=self.table).replace("?", "%s")
        with self._transaction(f"cannot {query.replace('_', ' ')}", single=True) as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def load_events(self, run_id: str, after: int = 0) -> StoredEvents:
        with self._transaction(f"cannot read the events of run '{run_id}'", single=True) as cur:
            cur.execute(f"SELECT seq, type, data FROM {self.table}_events WHERE run_id = %s"
                        " AND seq > %s ORDER BY seq", (run_id, after))
            rows = cur.fetchall()
        return [(int(seq), str(kind), str(data)) for seq, kind, data in rows]

    def drop(self) -> None:
        """Drop the table (tests and benchmarks use a table of their own)."""
        with self._transaction("cannot drop the table") as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self.table}, {self.table}_events")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
