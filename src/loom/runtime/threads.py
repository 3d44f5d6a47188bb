"""Worker threads for sync tools, cheaper per call than ``run_in_executor``.

A fan-out of a few hundred sync tools is bounded by what each hop to a thread
and back costs, since all of it holds the GIL. The standard route
(``loop.run_in_executor``) builds a concurrent future, chains it to an asyncio
future and wakes the loop once per finished call. Here a job goes straight to
an idle worker parked on its own lock, and finished calls are handed back in
batches: the loop is woken once for as many results as have piled up since it
last looked.
bench/runtime.py measures the effect.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

_Job = tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any], "_Inbox"]


class ToolThreads:
    """Up to ``size`` threads, started on demand and kept for later calls.

    Idle threads exit on :meth:`shutdown`, or when the pool is garbage
    collected. Calls beyond ``size`` wait in order for a free thread. A process
    forked from one that used the pool starts threads of its own.
    """

    def __init__(self, size: int, name: str = "loom-tool") -> None:
        if size < 1:
            raise ValueError("a thread pool needs at least one thread")
        self._workers = _Workers(size, name)
        self._inboxes: dict[asyncio.AbstractEventLoop, _Inbox] = {}
        weakref.finalize(self, self._workers.shutdown)

    @property
    def size(self) -> int:
        return self._workers.size

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run ``fn(*args)`` in a worker; the future belongs to the running loop."""
        loop = asyncio.get_running_loop()
        inbox = self._inboxes.get(loop)
        if inbox is None:
            inbox = self._inbox(loop)
        future = loop.create_future()
        self._workers.start((fn, args, future, inbox))
        return future

    def shutdown(self) -> None:
        """Stop idle workers; calls not yet started are cancelled, running ones finish."""
        self._workers.shutdown()

    def _inbox(self, loop: asyncio.AbstractEventLoop) -> _Inbox:
        # Loops in other threads may add theirs meanwhile: iterate over a copy.
        for old in [old for old in list(self._inboxes) if old.is_closed()]:
            self._inboxes.pop(old, None)
        inbox = self._inboxes[loop] = _Inbox(loop)
        return inbox


class _Workers:
    """The threads and the work waiting for them, shared with every worker."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._closed = False
        self._forget_threads()
        _EVERY.add(self)

    def _forget_threads(self) -> None:
        # Also run in a forked child, where none of the parent's threads exist.
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._backlog: deque[_Job] = deque()
        self._started = 0

    def start(self, job: _Job) -> None:
        try:
            worker = self._idle.pop()  # list.pop is atomic: the usual case takes no lock
        except IndexError:
            found = self._hire_or_queue(job)
            if found is None:
                return
            worker = found
        worker.give(job)

    def _hire_or_queue(self, job: _Job) -> _Worker | None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the runtime is closed: its tool threads are shut down")
            if self._idle:
                return self._idle.pop()
            if self._started < self.size:
                self._started += 1
                return _Worker(self, f"{self.name}-{self._started}")
            self._backlog.append(job)
            return None

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            backlog, self._backlog = list(self._backlog), deque()
        for worker in idle:
            worker.give(None)
        for _, _, future, inbox in backlog:
            inbox.cancel(future)

    def next_job(self, worker: _Worker) -> _Job | None:
        """A worker that finished takes waiting work, or parks as idle."""
        with self._lock:
            if self._backlog:
                return self._backlog.popleft()
            if self._closed:
                return None
            self._idle.append(worker)
        return worker.wait()


_EVERY: weakref.WeakSet[_Workers] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for workers in list(_EVERY):
        workers._forget_threads()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Worker:
    __slots__ = ("_workers", "_ready", "_job")

    def __init__(self, workers: _Workers, name: str) -> None:
        self._workers = workers
        self._ready = threading.Lock()
        self._ready.acquire()
        self._job: _Job | None = None
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def give(self, job: _Job | None) -> None:
        self._job = job
        self._ready.release()

    def wait(self) -> _Job | None:
        self._ready.acquire()
        job, self._job = self._job, None
        return job

    def _loop(self) -> None:
        job = self.wait()
        while job is not None:
            fn, args, future, inbox = job
            job = None  # drop references to the finished call before parking
            if not future.cancelled():
                try:
                    inbox.put(future, fn(*args), None)
                except BaseException as exc:  # handed to the awaiting coroutine
                    inbox.put(future, None, exc)
            del fn, args, future, inbox
            job = self._workers.next_job(self)


class _Inbox:
    """Results finished in threads, waiting for their event loop to deliver them."""

    __slots__ = ("loop", "_results", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._results: deque[tuple[asyncio.Future[Any], Any, BaseException | None]] = deque()
        self._scheduled = False

    def put(self, future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
        self._results.append((future, value, error))
        if not self._scheduled:
            self._scheduled = True
            self._wake(self._deliver)

    def cancel(self, future: asyncio.Future[Any]) -> None:
        self._wake(future.cancel)

    def _wake(self, callback: Callable[[], Any]) -> None:
        try:
            self.loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop is closed: nobody waits for the result
            pass

    def _deliver(self) -> None:
        # Cleared before draining: a result added from now on is either drained
        # below or sees the flag down and schedules another delivery.
        self._scheduled = False
        results = self._results
        while results:
            future, value, error = results.popleft()
            if future.cancelled():
                continue
            if error is None:
                future.set_result(value)
            elif isinstance(error, StopIteration):  # futures refuse StopIteration
                future.set_exception(RuntimeError(f"the tool raised {error!r}"))
            else:
                future.set_exception(error)
