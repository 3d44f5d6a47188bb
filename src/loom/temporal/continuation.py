"""Long runs: the workflow continues as new before its history gets too long.

Temporal warns at 10K events (or 10 MB) of history and ends a workflow at 50K
(or 50 MB). When the server suggests it, or the history reaches
``continue_after`` events, the next activity is held instead of scheduled, and
so is every one after it; once the calls in flight have come back (each
recorded in the run's journal), the run continues as new with its journal, and
the new run replays the recorded steps, never calling them again, and goes on.
The client follows the chain by the workflow id, which is the run id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

from loom.errors import RunNotFound
from loom.runs import RunState
from loom.runtime.result import RunResult
from loom.stores.memory import MemoryStore

CONTINUE_AFTER = 8_000  # events: well under Temporal's 10K warning
CARRIED = "carried"  # the start's key for what a continued run goes on from
CONTINUED = "continued"  # an update's status when the run went on in a new one


class LiveStore(MemoryStore):
    """The workflow's store: it holds the run's state object itself (no copy), so the
    journal the engine writes into is the one carried to the next run."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[str, RunState] = {}

    def save(self, state: RunState) -> None:
        self.live[state.run_id] = state

    def load(self, run_id: str) -> RunState:
        state = self.live.get(run_id)
        if state is None:
            raise RunNotFound(f"no run with id '{run_id}' in this workflow")
        return state

    def claim(self, run_id: str, owner: str) -> RunState:
        state = self.load(run_id)
        state.owner = owner
        return state

    def release(self, run_id: str, owner: str) -> None:
        pass

    def delete(self, run_id: str, owner: str | None = None) -> bool:
        return self.live.pop(run_id, None) is not None


class Continuation:
    """Decides when the run goes on in a new workflow run, holding its activities
    until then (:meth:`gate`, called before each)."""

    def __init__(self, after: int | None = CONTINUE_AFTER) -> None:
        self.after = after
        self.enabled = True
        self.requested = False
        self.in_flight = 0  # activities past the gate and not yet back
        self.carried: dict[str, Any] | None = None  # what the next run goes on from

    def _due(self) -> bool:
        if self.enabled and not self.requested:
            info = workflow.info()
            self.requested = info.is_continue_as_new_suggested() or (
                self.after is not None and info.get_current_history_length() >= self.after)
        return self.requested

    async def gate(self) -> None:
        """Before an activity: wait while the run continues as new (for ever, unless
        the continuation is given up)."""
        if self._due():
            await workflow.wait_condition(lambda: not self.requested)

    async def drive(self, work: Awaitable[RunResult],
                    carry: Callable[[], dict[str, Any] | None]) -> RunResult | None:
        """``work``'s result; or None once it is time to continue as new: every call in
        flight has come back, ``carry()`` is in :attr:`carried` and ``work`` is
        cancelled (when ``carry()`` is None, the continuation is given up and ``work``
        goes on)."""
        task = asyncio.ensure_future(work)
        while True:
            # Conditions are checked only when nothing else can run: the engine has
            # recorded everything that came back, and waits at the gate or for a person.
            await workflow.wait_condition(
                lambda: task.done() or (self.requested and self.in_flight == 0))
            if task.done():
                return task.result()
            self.carried = carry()
            if self.carried is None:
                self.enabled = self.requested = False
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return None


def carried(state: RunState, generation: int, queued: list[dict[str, Any]]) -> dict[str, Any]:
    """What the next run needs to go on from here: the journal and the answers."""
    return {"entries": dict(state.entries), "answers": dict(state.answers),
            "created_at": state.created_at, "generation": generation, "queued": list(queued)}


def restore(state: RunState, carried: dict[str, Any]) -> None:
    """Give a new run's state the journal of the run it continues."""
    state.entries = dict(carried["entries"])
    state.answers = dict(carried["answers"])
    state.created_at = carried["created_at"]
