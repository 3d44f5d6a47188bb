"""What a running flow carries: its place in the tree, the conversation, the services."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loom.runtime.services import Services


class RunContext:
    """Per-run state shared by a flow and everything it runs inside it.

    A child context (a subflow, a parallel branch) shares the conversation and
    services and extends the path used in error messages.
    """

    __slots__ = ("services", "path", "messages", "permit")

    def __init__(
        self,
        services: Services,
        path: tuple[str, ...],
        messages: list[dict[str, Any]],
        permit: asyncio.Semaphore | None = None,
    ) -> None:
        self.services = services
        self.path = path
        self.messages = messages
        self.permit = permit

    def child(self, *names: str, permit: asyncio.Semaphore | None = None) -> RunContext:
        """A context for a subflow. Without a new ``permit`` it runs inside this
        branch (a FlowNode, a CatchExceptionNode, a MapNode iteration) and keeps
        the branch's permit, so a parallel node nested in it can give it back."""
        return RunContext(self.services, self.path + names, self.messages,
                          permit if permit is not None else self.permit)

    @contextlib.asynccontextmanager
    async def waiting_for_children(self) -> AsyncIterator[None]:
        """Give back this branch's concurrency permit while its children run.

        Without this, nested parallel nodes could hold every permit while
        waiting for children that need one: a deadlock.
        """
        permit = self.permit
        if permit is None:
            yield
            return
        permit.release()
        try:
            yield
        finally:
            await permit.acquire()
