"""Where run states are kept between a wait and its resumption.

A stored run is *held* by one process at a time (the one running it with
per-node checkpoints, or resuming it), named ``host:pid:token``. A holder counts
as gone when its process on this host no longer exists, or when its lease
(renewed at checkpoints and every third of ``lease_timeout``) is older than the
store's ``lease_timeout``.
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from loom.errors import CheckpointError, RunNotFound, RunTakenOver
from loom.runs import RunState, RunStatus

_SECRET = r"[\w.-]*(?:pass|secret|token)[\w.-]*"
_MASKS = (  # query parameters, libpq pairs, userinfo (whose password may hold '/')
    re.compile(rf"(?i)([?&;]{_SECRET}=)([^&#;]*)()"),
    re.compile(rf"(?i)((?:^|\s){_SECRET}\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)()"),
    re.compile(r"(://[^:@/?#]*:)([^?#]*)(@)"),
)


def masked_url(url: str) -> str:
    """A store URL or libpq DSN with every credential (password, sslpassword,
    passfile..., userinfo) as ``***``."""
    for mask in _MASKS:
        url = mask.sub(r"\1***\3", url)
    return url


def masked(text: str, url: str) -> str:
    """``text`` with ``url`` masked, and its credentials wherever a driver echoes them."""
    found = [m[2].strip("'") for mask in _MASKS for m in mask.finditer(url)]
    text = text.replace(url, masked_url(url))
    for secret in sorted({*found, *map(unquote, found)} - {""}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


DEFAULT_LEASE_TIMEOUT = 3600.0
"""Seconds after its last checkpoint when a holder on another host counts as gone."""


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    flow_name: str
    pending: int
    created_at: float
    updated_at: float
    owner: str | None = None


class CheckpointStore(Protocol):
    """Stores keep one state per run id. ``claim`` marks a stored run as taken
    by this process before it is resumed, so two resumptions cannot both run:
    the second gets a CheckpointError."""

    @property
    def lease_timeout(self) -> float:
        """Seconds after which a holder on another host that has not renewed counts as gone."""
        ...

    def save(self, state: RunState) -> None: ...

    def load(self, run_id: str) -> RunState: ...

    def claim(self, run_id: str, owner: str) -> RunState: ...

    def release(self, run_id: str, owner: str) -> None: ...

    def renew(self, run_id: str, owner: str) -> bool:
        """Extend the lease of a run ``owner`` holds; False when it no longer holds it."""
        ...

    def list(self) -> list[RunSummary]: ...

    def delete(self, run_id: str, owner: str | None = None) -> bool:
        """Remove a run; with ``owner``, only while no other process holds it."""
        ...

    def close(self) -> None: ...


StoredEvent = tuple[int, str, str]
"""One event kept with its run: sequence number, type, the event as JSON text."""
StoredEvents = list[StoredEvent]  # named here: inside a store class, ``list`` is its method
EventRows = Sequence[tuple[str, int, str, str]]
"""Events of several runs: run id, then the event."""
RunIds = list[str]
Rows = list[Any]


class EventStore(Protocol):
    """Stores that also keep a run's events (a server replays them after a restart);
    deleting a run deletes its events."""

    def save_events(self, run_id: str, events: Sequence[StoredEvent]) -> None:
        """Add events; one whose sequence number is kept already is left as it is."""
        ...

    def load_events(self, run_id: str, after: int = 0) -> StoredEvents:
        """The run's events numbered above ``after``, in order."""
        ...

    def append_events(self, rows: EventRows) -> None:
        """``save_events`` for the events of several runs at once: (run id, *event)."""
        ...


class SharedStore(Protocol):
    """What several processes on one store (SQLite, PostgreSQL) coordinate through,
    beside the lease: a durable request to cancel a run, which its holder acts on
    (the request goes when the run ends), and per-key counts of the held runs."""

    def request_cancel(self, run_id: str) -> None: ...

    def cancel_requests(self) -> list[str]:
        """The held runs that were asked to cancel."""
        ...

    def book(self, run_id: str, owner: str, key: str, limit: int) -> bool:
        """Tag the run ``owner`` holds with ``key``; whether at most ``limit`` runs so
        tagged are held now by live processes (this one included)."""
        ...


ENDED = ("finished", "failed", "cancelled")
CANCELLED = "the run was cancelled"


def end_state(state: RunState, status: RunStatus, message: str, owner: str | None) -> None:
    """Mark a stored run's state cancelled or failed with ``message``, to be saved by ``owner``."""
    state.status = status
    state.pending = []
    state.error = {"node": str(state.flow.get("name", "")), "message": message}
    state.owner = owner
    state.updated_at = time.time()


def cancel_once(store: Any, run_id: str) -> RunState | None:
    """One attempt, by a process that does not run it, to cancel a stored run: its
    state once it ended (cancelled here, or it had ended before); None while a live
    process holds it, which this asks to cancel it (:meth:`SharedStore.request_cancel`)."""
    state: RunState = store.load(run_id)
    if state.status in ENDED:
        return state
    owner = make_owner()
    try:
        state = store.claim(run_id, owner)  # nobody holds it, or its holder died
    except RunNotFound:
        raise
    except CheckpointError:
        if not hasattr(store, "request_cancel"):
            raise
        store.request_cancel(run_id)
        return None
    if state.status not in ENDED:
        end_state(state, "cancelled", CANCELLED, owner)
        store.save(state)
    store.release(run_id, owner)
    return state


SHARED_COLUMNS = (("cancel_at", "DOUBLE PRECISION"), ("quota", "TEXT"))
SHARED_SQL = {  # "?" placeholders; {t}: the table
    "request_cancel": "UPDATE {t} SET cancel_at = COALESCE(cancel_at, ?) WHERE run_id = ?"
                      " AND status NOT IN ('finished', 'failed', 'cancelled')",
    "cancel_requests": "SELECT run_id FROM {t} WHERE cancel_at IS NOT NULL AND owner IS NOT NULL",
    "tag": "UPDATE {t} SET quota = ? WHERE run_id = ? AND owner = ?",
    "held": "SELECT owner, lease_at FROM {t} WHERE quota = ? AND owner IS NOT NULL",
}
# In a save: a run that ends takes its cancel request with it.
SAVE_CANCEL = ("cancel_at = CASE WHEN excluded.status IN ('finished', 'failed', 'cancelled')"
               " THEN NULL ELSE {t}.cancel_at END")


class SqlShared:
    """The :class:`SharedStore` methods of the SQL stores, over their ``_shared``."""

    lease_timeout: float

    def _shared(self, query: str, *params: Any) -> Rows:
        """Run ``SHARED_SQL[query]``: the rows it gives."""
        raise NotImplementedError

    def request_cancel(self, run_id: str) -> None:
        self._shared("request_cancel", time.time(), run_id)

    def cancel_requests(self) -> RunIds:
        return [str(row[0]) for row in self._shared("cancel_requests")]

    def book(self, run_id: str, owner: str, key: str, limit: int) -> bool:
        self._shared("tag", key, run_id, owner)
        return within(self._shared("held", key), limit, self.lease_timeout)


def shared_ddl(table: str, present: Iterable[str]) -> list[str]:
    """What gives a table (an older one too) the columns of :class:`SharedStore`, and
    the small indexes that keep its queries off the whole table."""
    return [*(f"ALTER TABLE {table} ADD COLUMN {name} {kind}" for name, kind in SHARED_COLUMNS
              if name not in present),
            f"CREATE INDEX IF NOT EXISTS {table}_held ON {table} (quota) WHERE owner IS NOT NULL",
            f"CREATE INDEX IF NOT EXISTS {table}_cancels ON {table} (run_id)"
            " WHERE cancel_at IS NOT NULL"]


def within(holders: Sequence[tuple[str, float | None]], limit: int, lease_timeout: float) -> bool:
    """Whether at most ``limit`` of ``holders`` (owner, lease time) are alive; looked
    at one by one only past the limit."""
    now = time.time()
    return len(holders) <= limit or sum(
        holder_alive(owner, at, now, lease_timeout) for owner, at in holders) <= limit


def make_owner() -> str:
    """A new owner id for this process: ``host:pid:token``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def describe_owner(owner: str) -> str:
    host, pid = _split_owner(owner)
    return f"process {pid} on {host}" if pid is not None else repr(owner)


def holder_alive(owner: str, lease_at: float | None, now: float, lease_timeout: float) -> bool:
    """Whether the process named by ``owner`` may still be running the run."""
    if lease_at is not None and now - lease_at > lease_timeout:
        return False
    host, pid = _split_owner(owner)
    if pid is None or host != socket.gethostname():
        return True  # another host: only the lease tells
    return pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[-1].split()
        return not fields or fields[0] not in (b"Z", b"X")
    except OSError:
        return True  # no /proc: trust kill(0)


def held_error(run_id: str, owner: str) -> CheckpointError:
    return CheckpointError(
        f"run '{run_id}' is held by {describe_owner(owner)}, which is still running it",
        hint="wait for that process to finish or stop it; a run whose process died can "
        "be resumed at once",
    )


def taken_error(run_id: str, owner: str) -> RunTakenOver:
    return RunTakenOver(
        f"run '{run_id}' was taken over by {describe_owner(owner)}; this process no "
        "longer owns it and stops saving it",
        hint="the other process continues the run; see `loom runs show` for its state",
    )


def _split_owner(owner: str) -> tuple[str, int | None]:
    host, _, rest = owner.rpartition(":")  # token
    host, _, pid = host.rpartition(":")
    try:
        return host, int(pid)
    except ValueError:
        return owner, None


def state_row(state: RunState, now: float) -> dict[str, Any]:
    """The columns a SQL store keeps for a run (``me``: the saving process, whose
    lease a save of a running run renews)."""
    running = state.status == "running"
    return {
        "run_id": state.run_id,
        "status": state.status,
        "flow_name": str(state.flow.get("name", "")),
        "pending": len(state.pending),
        "owner": state.owner if running else None,
        "lease_at": now if running else None,
        "created_at": state.created_at or now,
        "updated_at": state.updated_at or now,
        "state": state.to_json(),
        "me": state.owner,
    }
