"""Checkpoint writes that fail while the steps that asked for them are cancelled."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import loom
from loom.errors import CheckpointError
from loom.runs import RunState
from loom.stores import SqliteStore

from .test_parallelism import fan_of


class FullDisk(SqliteStore):
    """A real SQLite store whose every save fails, as on a full disk."""

    def save(self, state: RunState) -> None:
        raise CheckpointError("disk full")


async def test_a_failed_write_of_a_cancelled_step_is_not_left_unretrieved(tmp_path: Path) -> None:
    """Two branches finish together and each asks for a checkpoint; the first failure
    cancels the other branch while its write is still running. That write's error must
    be taken by loom, not left for asyncio to report as never retrieved."""
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))

    async def work() -> int:
        await asyncio.sleep(0.01)
        return 1

    runtime = loom.Runtime(tools={"work": work}, store=FullDisk(tmp_path / "runs.sqlite3"),
                           checkpoint="nodes")
    try:
        result = await runtime.arun(fan_of(4))
    finally:
        runtime.close()
    await asyncio.sleep(0.05)
    gc.collect()
    await asyncio.sleep(0)
    assert result.status == "failed"
    assert "disk full" in (result.error.message if result.error else "")
    assert [c.get("message") for c in reported] == []
