"""The blocking facade: one kept loop in the main thread, asyncio.run semantics per call."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from typing import Any

import pytest

import loom
from loom.spec import LlmNode
from loom.testing import FakeLlmServer

from .conftest import exit_code_of_child, linear_flow, llm_config, prop, runtime, tool_node

WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def ask_flow(server: FakeLlmServer) -> Any:
    step = LlmNode(name="ask", llm_config=llm_config(server), prompt_template="Hi")
    return linear_flow("main", step, outputs=step.outputs or [])


def test_sync_runs_reuse_the_kept_alive_connection(fake_llm: FakeLlmServer) -> None:
    rt, flow = runtime(), ask_flow(fake_llm)
    for _ in range(3):
        assert rt.run(flow).status == "finished"
    assert len({r.peer for r in fake_llm.recorded}) == 1


def test_each_run_sees_the_callers_context_and_keeps_its_changes_to_itself() -> None:
    seen: list[str] = []

    async def tool() -> str:
        seen.append(WHO.get())
        WHO.set("tool")
        return "ok"

    rt = runtime({"who": tool})
    flow = linear_flow("main", tool_node("who", outputs=[prop("out")]))
    token = WHO.set("caller")
    try:
        assert rt.run(flow).status == "finished"
        assert WHO.get() == "caller"
        assert rt.run(flow).status == "finished"
    finally:
        WHO.reset(token)
    assert seen == ["caller", "caller"]


def test_tasks_a_run_leaves_behind_are_cancelled() -> None:
    left: list[asyncio.Task[None]] = []

    async def tool() -> str:
        left.append(asyncio.ensure_future(asyncio.sleep(3600)))
        return "ok"

    rt = runtime({"spawn": tool})
    assert rt.run(linear_flow("main", tool_node("spawn"))).status == "finished"
    [task] = left
    assert task.cancelled()


def test_another_thread_runs_on_a_loop_of_its_own(fake_llm: FakeLlmServer) -> None:
    rt, flow = runtime(), ask_flow(fake_llm)
    statuses: list[str] = []
    workers = [threading.Thread(target=lambda: statuses.append(rt.run(flow).status))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert statuses == ["finished", "finished"]


def test_a_blocking_call_inside_a_loop_is_refused() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="use arun"):
            loom.Runtime(use_env=False).run(linear_flow("main"))

    asyncio.run(main())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_use_its_parents_loop(fake_llm: FakeLlmServer) -> None:
    rt, flow = runtime(), ask_flow(fake_llm)
    assert rt.run(flow).status == "finished"  # the parent now keeps a loop and a connection
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if its runs finish
        code = 1
        try:
            ok = all(rt.run(flow).status == "finished" for _ in range(2))
            code = 0 if ok else 1
        finally:
            os._exit(code)
    assert exit_code_of_child(pid, 30, "the forked child hung") == 0
    assert rt.run(flow).status == "finished"  # and the parent's loop still works


def test_a_loop_closed_by_someone_else_is_replaced() -> None:
    rt = runtime()
    flow = linear_flow("main")
    assert rt.run(flow).status == "finished"
    from loom.runtime import blocking

    assert blocking._kept is not None
    blocking._kept[1].get_loop().close()  # e.g. asyncio.get_event_loop().close() in user code
    assert rt.run(flow).status == "finished"
