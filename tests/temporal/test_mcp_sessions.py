"""A worker keeps MCP sessions per (run, server): the calls of one run on one worker
share a session, two runs do not, and sessions close when the run ends, when idle,
when the pool is full (least recently used first) and when the worker stops.
Counted on the server's side: it logs each call's session id and each session's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import loom
from loom import mcp
from loom.spec import MCPTool, StreamableHTTPTransport, ToolNode
from loom.temporal import TemporalBackend, connect
from loom.temporal.mcp_pool import SessionPool
from runtime.conftest import linear_flow, prop, props, tool_node
from temporal.backends import backend
from temporal.test_mcp import transport
from temporal.workers import worker_processes

pytestmark = pytest.mark.timeout(120)


def counter(own: StreamableHTTPTransport, label: str, node: str) -> ToolNode:
    tool = MCPTool(name="count", client_transport=own, inputs=[prop("label", default=label)],
                   outputs=[prop(f"said_{label}")])
    return ToolNode(name=node, tool=tool)


def two_counts(own: StreamableHTTPTransport) -> loom.spec.Flow:
    """Two calls of ``count`` on one server."""
    return linear_flow("twice", counter(own, "a", "first"), counter(own, "b", "second"),
                       outputs=props(said_a="string", said_b="string"), wiring="edges")


def sessions_of(log: Path, since: int) -> list[str]:
    """The session ids of the calls logged after line ``since``."""
    lines = log.read_text().splitlines()[since:]
    return [line.split(" ", 1)[1] for line in lines if line.startswith("session ")]


def ended(log: Path) -> set[str]:
    return {line.split(" ", 1)[1] for line in log.read_text().splitlines()
            if line.startswith("end ")}


def mark(log: Path) -> int:
    return len(log.read_text().splitlines())


async def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.02)


async def test_one_runs_calls_share_a_session_two_runs_do_not(
    temporal_server: str, task_queue: str, mcp_server: tuple[str, Path]
) -> None:
    url, log = mcp_server
    flow = two_counts(transport(url))
    async with backend("temporal", temporal_server, task_queue, {}) as runtime:
        pool: SessionPool = runtime.activities.mcp_pool  # type: ignore[attr-defined]
        seen = []
        for _ in range(2):
            before = mark(log)
            result = await runtime.arun(flow)
            assert result.status == "finished", result.error
            assert result.outputs == {"said_a": "counted a", "said_b": "counted b"}
            first, second = sessions_of(log, before)
            assert first == second  # the run's two calls: one session
            assert len(pool) == 0  # closed when the run ended...
            assert first in ended(log)  # ...on the server's side too
            seen.append(first)
    assert seen[0] != seen[1]  # each run its own


async def test_sessions_close_when_idle_when_the_pool_is_full_and_when_it_closes(
    mcp_server: tuple[str, Path]
) -> None:
    url, log = mcp_server
    own = transport(url)
    pool = SessionPool(size=1, idle_timeout=0.5)

    async def count(run_id: str, label: str) -> str:
        before = mark(log)
        async with pool.lease(run_id) as sessions:
            await mcp.call_tool(sessions, own, "count", {"label": label}, "test")
        [session] = sessions_of(log, before)
        return session

    try:
        idle = await count("r1", "idle")
        assert pool.runs() == {"r1"}
        await eventually(lambda: len(pool) == 0)  # idle for 0.5 s
        await eventually(lambda: idle in ended(log))

        first = await count("r1", "one")
        assert await count("r1", "two") == first  # kept between the calls of a run
        second = await count("r2", "three")  # the pool holds one: r1's goes
        assert second != first and pool.runs() == {"r2"}
        await eventually(lambda: first in ended(log))

        async with pool.lease("r2") as busy:  # r2's session in use: r3 gets one of its own
            await mcp.call_tool(busy, own, "count", {"label": "four"}, "test")
            alone = await count("r3", "five")
            assert alone != second and pool.runs() == {"r2"}
            assert alone in ended(log)  # closed with its call
        assert second not in ended(log)
    finally:
        await pool.close()
    assert len(pool) == 0 and second in ended(log)  # the worker stops: all closed


async def test_sensitive_headers_come_from_the_workers_registry_never_the_history(
    temporal_server: str, task_queue: str, mcp_server: tuple[str, Path], tmp_path: Path
) -> None:
    url, log = mcp_server
    own = StreamableHTTPTransport(name="own", url=url,
                                  sensitive_headers={"x-loom-secret": "not-for-the-history"})
    flow = two_counts(own)
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"$referenced_components": {
        f"{own.id}.sensitive_headers": {"x-loom-secret": "from-the-worker"}}}))
    (tmp_path / "tools.py").write_text("")
    with worker_processes(1, temporal_server, task_queue, tmp_path / "tools.py",
                          os.environ, "--registry", str(registry)):
        before = mark(log)
        with loom.Runtime(backend=TemporalBackend(f"temporal://{temporal_server}/default",
                                                  task_queue)) as runtime:
            result = await runtime.arun(flow)
    assert result.status == "finished", result.error
    seen = log.read_text().splitlines()[before:]
    assert "secret from-the-worker" in seen and "secret not-for-the-history" not in seen
    history = await (await connect(temporal_server)).get_workflow_handle(
        result.run_id or "").fetch_history()
    text = history.to_json()
    assert "from-the-worker" not in text and "not-for-the-history" not in text


async def test_a_stopping_worker_closes_the_sessions_it_keeps(
    temporal_server: str, task_queue: str, mcp_server: tuple[str, Path], tmp_path: Path
) -> None:
    """SIGTERM while the run, past its MCP call, waits on a tool: the run has not ended,
    so only the worker's stop closes the session."""
    url, log = mcp_server
    hold = tool_node("hold", [], [prop("done")])
    flow = linear_flow("held", counter(transport(url), "a", "first"), hold,
                       outputs=[prop("said_a"), prop("done")], wiring="edges")
    (tmp_path / "tools.py").write_text(
        "import asyncio\n\nasync def hold() -> str:\n    await asyncio.sleep(60)\n"
        "    return 'late'\n")
    client = await connect(temporal_server)
    backend_ = TemporalBackend(f"temporal://{temporal_server}/default", task_queue)
    before = mark(log)
    with worker_processes(1, temporal_server, task_queue, tmp_path / "tools.py",
                          os.environ) as [worker], loom.Runtime(backend=backend_) as runtime:
        task = asyncio.ensure_future(runtime.arun(flow, run_id=f"held-{task_queue}"))
        try:
            await eventually(lambda: len(sessions_of(log, before)) == 1, 60)
            [session] = sessions_of(log, before)
            await asyncio.sleep(0.5)  # the tool's activity has started
            assert session not in ended(log)
            worker.send_signal(signal.SIGTERM)
            await asyncio.to_thread(worker.wait, 30)
            assert worker.returncode == 0
            assert session in ended(log)
        finally:
            await client.get_workflow_handle(f"held-{task_queue}").terminate()
            with contextlib.suppress(loom.LoomError):
                await asyncio.wait_for(task, 30)
