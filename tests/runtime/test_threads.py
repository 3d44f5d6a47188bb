"""ToolThreads: the worker threads sync tools run in."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time

import pytest

from loom.runtime.threads import ToolThreads

from .conftest import exit_code_of_child


def _pool_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(name + "-")]


def _wait_until(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_results_and_errors_reach_the_awaiting_coroutine() -> None:
    pool = ToolThreads(4)

    def fail() -> None:
        raise ValueError("bad input")

    async def main() -> None:
        assert await pool.submit(lambda a, b: a + b, 2, 3) == 5
        assert await pool.submit(threading.get_ident) != threading.get_ident()
        with pytest.raises(ValueError, match="bad input"):
            await pool.submit(fail)

    asyncio.run(main())
    pool.shutdown()


def test_stop_iteration_becomes_a_runtime_error() -> None:
    # An asyncio future cannot hold StopIteration; the tool's error must still arrive.
    pool = ToolThreads(1)

    def stop() -> None:
        raise StopIteration

    async def main() -> None:
        with pytest.raises(RuntimeError, match="StopIteration"):
            await pool.submit(stop)

    asyncio.run(main())
    pool.shutdown()


def test_never_more_calls_at_once_than_threads_and_the_rest_run_in_order() -> None:
    pool = ToolThreads(2)
    lock = threading.Lock()
    running = 0
    peak = 0
    order: list[int] = []

    def work(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            order.append(i)
        time.sleep(0.02)
        with lock:
            running -= 1
        return i * 10

    async def main() -> list[int]:
        return await asyncio.gather(*(pool.submit(work, i) for i in range(8)))

    assert asyncio.run(main()) == [i * 10 for i in range(8)]
    assert peak == 2
    assert order[2:] == list(range(2, 8))  # the backlog is taken first in, first out
    assert len(_pool_threads(pool._workers.name)) <= 2
    pool.shutdown()


def test_many_calls_overlap() -> None:
    # 64 calls on 64 threads all run at once: each waits at a barrier that opens only
    # when all 64 are inside (a pool running fewer at a time breaks it after 10 s).
    pool = ToolThreads(64)
    barrier = threading.Barrier(64, timeout=10)
    passed: list[int] = []

    def meet(index: int) -> None:
        barrier.wait()
        passed.append(index)

    async def main() -> None:
        await asyncio.gather(*(pool.submit(meet, i) for i in range(64)))

    asyncio.run(main())
    assert sorted(passed) == list(range(64))
    pool.shutdown()


def test_a_cancelled_call_that_has_not_started_never_runs() -> None:
    pool = ToolThreads(1)
    release = threading.Event()
    ran: list[str] = []

    def block() -> None:
        release.wait(5)
        ran.append("first")

    def second() -> None:
        ran.append("second")

    async def main() -> None:
        first = pool.submit(block)
        queued = pool.submit(second)
        queued.cancel()
        release.set()
        await first
        await pool.submit(lambda: None)  # runs after the cancelled one would have

    asyncio.run(main())
    assert ran == ["first"]
    pool.shutdown()


def test_shutdown_cancels_waiting_calls_and_refuses_new_ones() -> None:
    pool = ToolThreads(1, name="loom-test-shutdown")
    release = threading.Event()

    async def main() -> None:
        running = pool.submit(release.wait, 5)
        waiting = pool.submit(lambda: "never")
        await asyncio.sleep(0.05)
        pool.shutdown()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        assert await running is True  # a call already running finishes
        with pytest.raises(RuntimeError, match="closed"):
            pool.submit(lambda: None)

    asyncio.run(main())
    assert _wait_until(lambda: not _pool_threads("loom-test-shutdown"))


def test_idle_threads_exit_when_the_pool_is_dropped() -> None:
    name = "loom-test-dropped"
    pool = ToolThreads(3, name=name)

    async def main(pool: ToolThreads) -> None:
        await asyncio.gather(*(pool.submit(time.sleep, 0.01) for _ in range(3)))

    asyncio.run(main(pool))
    assert len(_pool_threads(name)) == 3
    del pool
    gc.collect()
    assert _wait_until(lambda: not _pool_threads(name))


def test_one_pool_serves_successive_event_loops() -> None:
    # The blocking Runtime.run starts a new loop per call; results must reach each.
    pool = ToolThreads(2)

    async def main(x: int) -> int:
        return int(await pool.submit(lambda: x * 2))

    assert [asyncio.run(main(i)) for i in range(3)] == [0, 2, 4]
    pool.shutdown()


def test_a_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        ToolThreads(0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_process_starts_threads_of_its_own() -> None:
    # The parent's idle threads do not exist in the child: handing them work would hang.
    pool = ToolThreads(2)

    async def double(x: int) -> int:
        return int(await pool.submit(lambda: x * 2))

    assert asyncio.run(double(1)) == 2  # the parent now has an idle thread
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the call comes back
        code = 1
        try:
            code = 0 if asyncio.run(asyncio.wait_for(double(21), 5)) == 42 else 1
        finally:
            os._exit(code)
    assert exit_code_of_child(pid, 20, "the forked child hung on the pool") == 0
    pool.shutdown()
