"""An in-process store: the default of the Python API, gone with the process.

Same rules as the persistent stores: a run is held by the process that runs
(checkpoint="nodes") or resumes it, and a second holder is refused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from loom.errors import RunNotFound
from loom.runs import RunState
from loom.stores.base import (
    DEFAULT_LEASE_TIMEOUT,
    ENDED,
    EventRows,
    RunIds,
    RunSummary,
    StoredEvent,
    StoredEvents,
    held_error,
    holder_alive,
    taken_error,
    within,
)


class MemoryStore:
    def __init__(self, lease_timeout: float = DEFAULT_LEASE_TIMEOUT) -> None:
        self.lease_timeout = lease_timeout
        self._states: dict[str, str] = {}
        self._summaries: dict[str, RunSummary] = {}
        self._owners: dict[str, tuple[str, float]] = {}
        self._events: dict[str, dict[int, StoredEvent]] = {}
        self._cancels: set[str] = set()
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()

    def save(self, state: RunState) -> None:
        text = state.to_json()
        now = time.time()
        with self._lock:
            holder = self._owners.get(state.run_id)
            if holder is not None and holder[0] != state.owner:
                raise taken_error(state.run_id, holder[0])
            if state.status == "running" and state.owner:
                self._owners[state.run_id] = (state.owner, now)
            else:
                self._owners.pop(state.run_id, None)
            if state.status in ENDED:
                self._cancels.discard(state.run_id)
            self._states[state.run_id] = text
            self._summaries[state.run_id] = RunSummary(
                state.run_id, state.status, str(state.flow.get("name", "")),
                len(state.pending), state.created_at or now, state.updated_at or now,
            )

    def load(self, run_id: str) -> RunState:
        with self._lock:
            return self._load(run_id)

    def _load(self, run_id: str) -> RunState:
        text = self._states.get(run_id)
        if text is None:
            raise RunNotFound(f"no run with id '{run_id}' in this store")
        return RunState.from_json(text, where=f"the checkpoint of run '{run_id}'")

    def claim(self, run_id: str, owner: str) -> RunState:
        now = time.time()
        with self._lock:
            holder = self._owners.get(run_id)
            if holder is not None and holder[0] != owner and holder_alive(
                holder[0], holder[1], now, self.lease_timeout
            ):
                raise held_error(run_id, holder[0])
            state = self._load(run_id)
            self._owners[run_id] = (owner, now)
        state.owner = owner
        return state

    def release(self, run_id: str, owner: str) -> None:
        with self._lock:
            holder = self._owners.get(run_id)
            if holder is not None and holder[0] == owner:
                del self._owners[run_id]

    def renew(self, run_id: str, owner: str) -> bool:
        with self._lock:
            holder = self._owners.get(run_id)
            if holder is None or holder[0] != owner:
                return False
            self._owners[run_id] = (owner, time.time())
            return True

    def list(self) -> list[RunSummary]:
        with self._lock:
            summaries = [
                RunSummary(s.run_id, s.status, s.flow_name, s.pending, s.created_at,
                           s.updated_at, (self._owners.get(s.run_id) or (None,))[0])
                for s in self._summaries.values()
            ]
        return sorted(summaries, key=lambda s: (s.created_at, s.run_id))

    def delete(self, run_id: str, owner: str | None = None) -> bool:
        with self._lock:
            holder = self._owners.get(run_id)
            if owner is not None and holder is not None and holder[0] != owner:
                return False
            self._owners.pop(run_id, None)
            self._summaries.pop(run_id, None)
            self._events.pop(run_id, None)
            self._cancels.discard(run_id)
            self._keys.pop(run_id, None)
            return self._states.pop(run_id, None) is not None

    def save_events(self, run_id: str, events: Sequence[StoredEvent]) -> None:
        self.append_events([(run_id, *event) for event in events])

    def append_events(self, rows: EventRows) -> None:
        with self._lock:
            for run_id, seq, kind, data in rows:
                self._events.setdefault(run_id, {}).setdefault(seq, (seq, kind, data))

    def request_cancel(self, run_id: str) -> None:
        with self._lock:
            summary = self._summaries.get(run_id)
            if summary is not None and summary.status not in ENDED:
                self._cancels.add(run_id)

    def cancel_requests(self) -> RunIds:
        with self._lock:
            return [run_id for run_id in self._cancels if run_id in self._owners]

    def book(self, run_id: str, owner: str, key: str, limit: int) -> bool:
        with self._lock:
            if self._owners.get(run_id, ("",))[0] == owner:
                self._keys[run_id] = key
            held = [self._owners[r] for r, k in self._keys.items() if k == key and r in self._owners]
        return within(held, limit, self.lease_timeout)

    def load_events(self, run_id: str, after: int = 0) -> StoredEvents:
        with self._lock:
            kept = self._events.get(run_id, {})
            return [kept[seq] for seq in sorted(kept) if seq > after]

    def close(self) -> None:
        pass
