"""The event loop behind the blocking ``Runtime`` methods.

The main thread keeps one loop from call to call (closed at exit): a new loop
per call would drop the shared HTTP client and its kept-alive connections each
time. Each call still runs in a copy of the caller's context and, as with
``asyncio.run``, the tasks it leaves behind are cancelled. Other threads, a
forked child's first call and Python 3.10 get a new loop per call.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import os
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from loom.llm import aclose_shared_http_client

T = TypeVar("T")

_kept: tuple[int, Any] | None = None  # (pid, asyncio.Runner) of the main thread
_forked_off: list[Any] = []  # a parent's runner, in a child: never run nor collected


def run_blocking(job: Coroutine[Any, Any, T]) -> T:
    """Run ``job`` to completion from sync code (not inside a running loop)."""
    if sys.version_info >= (3, 11) and threading.current_thread() is threading.main_thread():
        runner = _main_runner()
        try:
            result: T = runner.run(job, context=contextvars.copy_context())
            return result
        finally:
            _cancel_leftovers(runner.get_loop())
    return asyncio.run(_closing_http(job))


async def _closing_http(job: Coroutine[Any, Any, T]) -> T:
    try:
        return await job
    finally:
        await aclose_shared_http_client()


if sys.version_info >= (3, 11):

    def _main_runner() -> asyncio.Runner:
        global _kept
        if _kept is None or _kept[0] != os.getpid():
            if _kept is None:
                atexit.register(_close)
            else:  # its selector and sockets are the parent's
                _forked_off.append(_kept[1])
            _kept = (os.getpid(), asyncio.Runner())
        runner: asyncio.Runner = _kept[1]
        return runner


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def _close() -> None:
    global _kept
    if _kept is None or _kept[0] != os.getpid():
        return
    runner, _kept = _kept[1], None
    try:
        runner.run(aclose_shared_http_client())
    finally:
        runner.close()
