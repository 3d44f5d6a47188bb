"""``loom worker`` processes for the fault tests: started for a block, stopped after."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from processes import stop_process

LOOM = str(Path(sys.executable).parent / "loom")


@contextlib.contextmanager
def worker_processes(
    count: int, server: str, task_queue: str, tools: Path, env: Mapping[str, str],
    *options: str,
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` workers with the tools of ``tools`` (and more ``options``, e.g.
    ``--registry FILE``); each logs to ``worker{i}.log``
    beside it. SIGTERM (then SIGKILL) at the end of the block, for those still there."""
    logs = [(tools.parent / f"worker{i}.log").open("wb") for i in range(count)]
    workers = [subprocess.Popen([LOOM, "worker", "--temporal", server, "--task-queue",
                                 task_queue, "--tools", str(tools), *options], env=dict(env),
                                stdout=subprocess.DEVNULL, stderr=log) for log in logs]
    try:
        yield workers
    finally:
        for worker in workers:
            if worker.poll() is None:
                stop_process(worker, 15)
        for log in logs:
            log.close()
