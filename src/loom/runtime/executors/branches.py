"""Running parallel branches: bounded, cancellable, results in branch order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from loom.errors import BranchTimeout
from loom.runtime.context import RunContext
from loom.runtime.engine import FlowOutcome, run_flow
from loom.runtime.journal import PendingRequest, Suspended
from loom.runtime.plan import FlowPlan

# A branch: its name in paths and step keys, the flow it runs, that flow's inputs.
Branch = tuple[str, FlowPlan, dict[str, Any]]
_NOT_RUN: Any = object()


async def run_branches(
    ctx: RunContext,
    jobs: Sequence[Branch],
    limit: int | None = None,
    timeout: float | None = None,
) -> list[FlowOutcome]:
    """Run every branch's flow concurrently and return the outcomes in branch order.

    A pool of workers (at most ``limit`` for this node, and never more than the
    runtime's ``max_concurrency``) takes the jobs in order, so ten thousand map
    items cost a thousand tasks, not ten thousand. Every branch also holds a
    slot of the runtime-wide limit while it runs. When one job fails the others
    are cancelled, awaited, and the failure is raised. A branch that must wait
    (Suspended) pauses alone: its siblings run to completion and the requests
    of every waiting branch are raised together, in branch order.
    """
    if not jobs:
        return []
    global_limit = ctx.services.global_limit()
    results: list[Any] = [_NOT_RUN] * len(jobs)
    waits: list[list[PendingRequest] | None] = [None] * len(jobs)
    queue = iter(enumerate(jobs))

    async def worker() -> None:
        for index, (name, plan, inputs) in queue:
            await global_limit.acquire()
            child = ctx.child(name, permit=global_limit)
            try:
                if timeout is None:
                    results[index] = await run_flow(plan, child, inputs)
                else:
                    results[index] = await asyncio.wait_for(run_flow(plan, child, inputs), timeout)
            except Suspended as waiting:
                waits[index] = waiting.requests
            except asyncio.TimeoutError:
                raise BranchTimeout(
                    f"branch did not finish within {timeout:g} s",
                    child.path,
                    hint="raise the branch timeout or make the branch faster",
                ) from None
            finally:
                global_limit.release()

    size = min(len(jobs), limit or len(jobs), ctx.services.max_concurrency)
    async with ctx.waiting_for_children():
        workers = [asyncio.ensure_future(worker()) for _ in range(size)]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            await _cancel_all(workers)
            raise
        failed = next((w for w in workers if w.done() and w.exception() is not None), None)
        if failed is not None:
            await _cancel_all(workers)
            raise failed.exception()  # type: ignore[misc]
    pending = [request for requests in waits if requests for request in requests]
    if pending:
        raise Suspended(pending)
    return results


async def _cancel_all(tasks: Sequence[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
