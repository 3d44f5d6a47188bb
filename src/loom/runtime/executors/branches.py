"""Running parallel branches: bounded, cancellable, results in branch order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from loom.runtime.context import RunContext
from loom.runtime.errors import BranchTimeout
from loom.runtime.journal import PendingRequest, Suspended

T = TypeVar("T")
Job = Callable[[RunContext], Awaitable[T]]


async def run_branches(
    ctx: RunContext,
    jobs: Sequence[tuple[tuple[str, ...], Job[Any]]],
    limit: int | None = None,
    timeout: float | None = None,
) -> list[Any]:
    """Run every job concurrently and return their results in job order.

    At most ``limit`` jobs of this node, and at most the runtime's
    ``max_concurrency`` branches overall, run at once. When one job fails the
    others are cancelled, awaited, and the first failure is raised. A branch
    that must wait (Suspended) pauses alone: its siblings run to completion and
    the requests of every waiting branch are raised together.
    """
    global_limit = ctx.services.global_limit()
    node_limit = asyncio.Semaphore(limit) if limit else None

    async def branch(names: tuple[str, ...], job: Job[Any]) -> Any:
        if node_limit is not None:
            await node_limit.acquire()
        try:
            await global_limit.acquire()
            child = ctx.child(*names, permit=global_limit)
            try:
                if timeout is None:
                    return await job(child)
                try:
                    return await asyncio.wait_for(job(child), timeout)
                except asyncio.TimeoutError:
                    raise BranchTimeout(
                        f"branch did not finish within {timeout:g} s",
                        child.path,
                        hint="raise the branch timeout or make the branch faster",
                    ) from None
            finally:
                global_limit.release()
        finally:
            if node_limit is not None:
                node_limit.release()

    if not jobs:
        return []
    async with ctx.waiting_for_children():
        tasks = [asyncio.ensure_future(branch(names, job)) for names, job in jobs]
        waiting: list[PendingRequest] = []
        pending: set[asyncio.Future[Any]] = set(tasks)
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    error = task.exception()
                    if isinstance(error, Suspended):
                        waiting.extend(error.requests)  # the others go on; report at the end
                    elif error is not None:
                        await _cancel_all(tasks)
                        raise error
        except asyncio.CancelledError:
            await _cancel_all(tasks)
            raise
        if waiting:
            raise Suspended(waiting)
        return [task.result() for task in tasks]


async def _cancel_all(tasks: Sequence[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
