"""Running one scenario on either backend: ``async with backend("temporal", ...) as runtime``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import loom
from loom.temporal import Activities, TemporalBackend, connect, make_worker
from loom.temporal.converter import DATA_CONVERTER
from loom.temporal.worker import sandbox
from loom.temporal.workflow import LoomRun

BACKENDS = ("local", "temporal")


@contextlib.asynccontextmanager
async def backend(
    kind: str, server: str, task_queue: str, tools: dict[str, Callable[..., Any]],
    llm_url: str | None = None, registry: dict[str, Any] | None = None, **options: Any,
) -> AsyncIterator[loom.Runtime]:
    """A Runtime on ``kind``; on Temporal with one worker, in this loop, for the block."""
    if kind == "local":
        llm = {"url": llm_url} if llm_url else None
        with loom.Runtime(tools=tools, llm=llm, use_env=False, **options) as runtime:
            yield runtime
        return
    activities = Activities(tools, registry, llm={"url": llm_url} if llm_url else None)
    client = await connect(server)
    try:
        async with make_worker(client, task_queue, activities, registry=registry):
            with loom.Runtime(backend=TemporalBackend(f"temporal://{server}/default",
                                                      task_queue), **options) as runtime:
                runtime.activities = activities  # type: ignore[attr-defined]
                yield runtime
    finally:
        await activities.aclose()


async def replay(server: str, run_id: str) -> None:
    """Replay a run's history through a fresh workflow: raises if loom's engine took
    another path (non-determinism)."""
    from temporalio.worker import Replayer

    client = await connect(server)
    history = await client.get_workflow_handle(run_id).fetch_history()
    replayer = Replayer(workflows=[LoomRun], workflow_runner=sandbox(),
                        data_converter=DATA_CONVERTER)
    await replayer.replay_workflow(history)
