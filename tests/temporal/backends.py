"""Running one scenario on either backend: ``async with backend("temporal", ...) as runtime``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import loom
from loom.temporal import Activities, TemporalBackend, connect, make_worker
from loom.temporal.claim_check import ClaimCheckStore
from loom.temporal.converter import data_converter
from loom.temporal.worker import sandbox
from loom.temporal.workflow import LoomRun

BACKENDS = ("local", "temporal")


@contextlib.asynccontextmanager
async def backend(
    kind: str, server: str, task_queue: str, tools: dict[str, Callable[..., Any]],
    llm_url: str | None = None, registry: dict[str, Any] | None = None,
    claim_check: ClaimCheckStore | None = None, continue_after: int | None = None,
    map_batch: int | None = None, **options: Any,
) -> AsyncIterator[loom.Runtime]:
    """A Runtime on ``kind``; on Temporal with one worker, in this loop, for the block
    (large values going to ``claim_check``, for the worker and the client)."""
    if kind == "local":
        llm = {"url": llm_url} if llm_url else None
        with loom.Runtime(tools=tools, llm=llm, use_env=False, **options) as runtime:
            yield runtime
        return
    activities = Activities(tools, registry, llm={"url": llm_url} if llm_url else None,
                            large_values=claim_check is not None)
    client = await connect(server, claim_check=claim_check)
    try:
        async with make_worker(client, task_queue, activities, registry=registry):
            with loom.Runtime(backend=TemporalBackend(f"temporal://{server}/default",
                                                      task_queue, claim_check=claim_check,
                                                      continue_after=continue_after,
                                                      map_batch=map_batch),
                              **options) as runtime:
                runtime.activities = activities  # type: ignore[attr-defined]
                yield runtime
    finally:
        await activities.aclose()


async def replay(server: str, run_id: str, claim_check: ClaimCheckStore | None = None) -> None:
    """Replay a run's history through a fresh workflow: raises if loom's engine took
    another path (non-determinism)."""
    from temporalio.worker import Replayer

    client = await connect(server)
    history = await client.get_workflow_handle(run_id).fetch_history()
    replayer = Replayer(workflows=[LoomRun], workflow_runner=sandbox(),
                        data_converter=data_converter(claim_check))
    await replayer.replay_workflow(history)
