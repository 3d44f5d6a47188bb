"""This process's hold on a stored run while it runs it.

A shared store lets another process take a run over once its holder's lease is
older than ``lease_timeout`` (the holder may have died on another host). Saves
renew the lease, but a long step, or a run checkpointed only at waits, can go
longer than that without one; so while a held run goes on, its lease is renewed
every third of the timeout. When the store says another process holds the run
now (a renewal or a save refused), this process stops running it, rather than
doing its work twice: the flow is cancelled, which no node or tool can catch,
and the run ends with RunTakenOver. Nothing more is saved; the new holder's
checkpoints are its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from loom.errors import LoomError, RunTakenOver

T = TypeVar("T")

POLL_SECONDS = 0.5
"""How often to look whether the run has reached the store, before it has."""


class Lease:
    def __init__(
        self,
        run_id: str,
        *,
        held: Callable[[], bool],
        interval: Callable[[], float],
        renew: Callable[[], Awaitable[bool]],
    ) -> None:
        self.run_id = run_id
        self.held = held  # whether the store holds the run for us yet
        self.interval = interval
        self.renew = renew
        self.lost: RunTakenOver | None = None
        self._flow: asyncio.Future[Any] | None = None

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Await ``work`` while keeping the lease; RunTakenOver if it is lost."""
        self._flow = flow = asyncio.ensure_future(work)
        ticker = asyncio.ensure_future(self._keep())
        try:
            return await flow
        except asyncio.CancelledError:
            task = asyncio.current_task()
            from_outside = task is not None and getattr(task, "cancelling", int)() > 0
            if self.lost is not None and not from_outside:
                raise self.lost from None
            raise
        finally:
            ticker.cancel()

    def lose(self, error: RunTakenOver) -> None:
        """Another process holds the run: stop running it here."""
        if self.lost is None:
            self.lost = error
            if self._flow is not None:
                self._flow.cancel()

    async def _keep(self) -> None:
        while self.lost is None:
            await asyncio.sleep(self.interval() if self.held() else POLL_SECONDS)
            if not self.held():
                continue
            try:
                still_ours = await self.renew()
            except LoomError:
                continue  # the store is unreachable for now; the next save will say so
            if not still_ours:
                self.lose(RunTakenOver(
                    f"run '{self.run_id}' was taken over by another process while this one "
                    "ran it (its lease had expired); this process stopped running it",
                    hint="raise the store's lease_timeout if steps take longer than it",
                ))
