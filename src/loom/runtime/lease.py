"""This process's hold on a stored run while it runs it.

Another process may take a run over once its lease is older than
``lease_timeout``. Saves renew it, but a long step may not; so while a held run
goes on its lease is renewed every third of the timeout. When the store says
another process holds the run now, this one stops (the flow is cancelled, which
nothing can catch), saves nothing more, and the run ends with RunTakenOver.
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
