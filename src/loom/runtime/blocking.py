"""The loop behind the blocking ``Runtime`` methods. The main thread keeps one
(closed at exit) so that the shared HTTP client keeps its connections; each call
still gets a copy of the caller's context and, as with ``asyncio.run``, its
leftover tasks are cancelled. Other threads and Python 3.10 get a loop per call."""

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

_kept: tuple[int, Any] | None = None  # (pid, asyncio.Runner)
_forked_off: list[Any] = []  # a parent's runner, in a child: never run nor collected


def run_blocking(job: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        job.close()
        raise RuntimeError("a blocking Runtime method was called inside an event loop: "
                           "use arun() / aresume()")
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
        if _kept is None or _kept[0] != os.getpid() or _kept[1].get_loop().is_closed():
            if _kept is None:
                atexit.register(_close)
            elif _kept[0] != os.getpid():  # its selector and sockets are the parent's
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
