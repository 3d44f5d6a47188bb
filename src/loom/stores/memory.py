"""An in-process store: the default of the Python API, gone with the process."""

from __future__ import annotations

import threading

from loom.runtime.state import CheckpointError, RunState
from loom.stores.base import RunSummary


class MemoryStore:
    def __init__(self) -> None:
        self._states: dict[str, str] = {}
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()

    def save(self, state: RunState) -> None:
        text = state.to_json()
        with self._lock:
            self._states[state.run_id] = text

    def load(self, run_id: str) -> RunState:
        with self._lock:
            text = self._states.get(run_id)
        if text is None:
            raise CheckpointError(f"no run with id '{run_id}' in this store")
        return RunState.from_json(text, where=f"run '{run_id}'")

    def claim(self, run_id: str, owner: str) -> RunState:
        with self._lock:
            holder = self._owners.get(run_id)
            if holder is not None and holder != owner:
                raise CheckpointError(
                    f"run '{run_id}' is already being resumed by {holder}",
                    hint="wait for it to finish, then look at its state",
                )
            state = self.load_unlocked(run_id)
            self._owners[run_id] = owner
            return state

    def load_unlocked(self, run_id: str) -> RunState:
        text = self._states.get(run_id)
        if text is None:
            raise CheckpointError(f"no run with id '{run_id}' in this store")
        return RunState.from_json(text, where=f"run '{run_id}'")

    def release(self, run_id: str, owner: str) -> None:
        with self._lock:
            if self._owners.get(run_id) == owner:
                del self._owners[run_id]

    def list(self) -> list[RunSummary]:
        with self._lock:
            texts = list(self._states.values())
        summaries = []
        for text in texts:
            state = RunState.from_json(text)
            summaries.append(RunSummary(state.run_id, state.status,
                                        str(state.flow.get("name", "")), len(state.pending),
                                        state.created_at, state.updated_at))
        return sorted(summaries, key=lambda s: s.created_at)

    def delete(self, run_id: str) -> bool:
        with self._lock:
            self._owners.pop(run_id, None)
            return self._states.pop(run_id, None) is not None

    def close(self) -> None:
        pass
