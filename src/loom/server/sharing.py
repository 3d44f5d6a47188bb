"""What a server process does for the others on its store, on one ticker: it
writes the events of the runs it holds to the store in small batches (so an
event stream on another process follows them live), and it looks for the cancel
requests that other processes (or ``loom runs cancel``) left on those runs.

Its cost to the holder is one store write per tick for all its runs together
(none when nothing new happened) and one small indexed query every
``CANCEL_SECONDS`` while it holds runs; see the README for a measurement."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any

from loom.server.events import EventLog

FLUSH_SECONDS = 0.25
"""How often the events of held runs go to the store (sooner past FLUSH_EVENTS)."""
CANCEL_SECONDS = 0.25
"""How often the held runs are looked up for cancel requests."""

Call = Callable[..., Awaitable[Any]]


class Sharing:
    """The ticker of one :class:`~loom.server.manager.RunManager` (started with
    :meth:`start`, stopped with :meth:`close`)."""

    def __init__(self, store: Any, call: Call, logs: dict[str, EventLog],
                 held: Collection[str], cancel: Callable[[str], None], kept: int,
                 live: bool) -> None:
        self.store = store
        self.call = call  # runs a store method off the event loop
        self.logs = logs
        self.held = held  # the ids of the runs this process runs
        self.cancel = cancel
        self.kept = kept
        self.events = hasattr(store, "append_events")
        self.live = live and self.events  # False: events go to the store at segment ends only
        self.cancels = live and hasattr(store, "cancel_requests")
        self._nudged = asyncio.Event()
        self._writing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and (self.live or self.cancels):
            self._task = asyncio.create_task(self._tick())

    def nudge(self) -> None:
        self._nudged.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def flush(self, logs: Iterable[EventLog]) -> None:
        """Write what ``logs`` have not written yet, in one store call; what fails
        is written at the next call."""
        if not self.events:
            return
        async with self._writing:  # in order: a batch never overtakes an earlier one
            marks: list[tuple[EventLog, int, int]] = []
            rows: list[tuple[str, int, str, str]] = []
            for log in logs:
                seq, items = log.unflushed(self.kept)
                if seq > log.flushed:
                    marks.append((log, seq, len(items)))
                    rows.extend((log.run_id, *item) for item in items)
            if rows:
                await self.call(self.store.append_events, rows)
            for log, seq, kept in marks:
                log.flushed_to(seq, kept)

    async def _tick(self) -> None:
        next_look = 0.0
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._nudged.wait(), FLUSH_SECONDS)
            self._nudged.clear()
            try:
                if self.live and self.logs:
                    await self.flush(list(self.logs.values()))
                if self.cancels and self.held and time.monotonic() >= next_look:
                    next_look = time.monotonic() + CANCEL_SECONDS
                    for run_id in await self.call(self.store.cancel_requests):
                        if run_id in self.held:
                            self.cancel(run_id)
            except Exception:  # noqa: S110 - the store is down for now: the next tick tries again
                pass
