"""The defaults the README states, each seen at work where that is cheap, else read.

``max_steps`` 100,000, ``max_iterations`` 10, ``max_concurrency`` 1024,
``tool_threads`` 256, ``branch_timeout`` None, ``checkpoint`` "waits",
``keep_finished`` (True for a persistent store, False for memory),
``lease_timeout`` one hour, ``human_in_the_loop`` true, and the sizes of the
bounded tables.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import loom
from loom.errors import CheckpointError
from loom.spec import (
    Agent,
    BranchingNode,
    EndNode,
    InputMessageNode,
    OpenAiCompatibleConfig,
    ParallelMapNode,
    StartNode,
)
from loom.stores import MemoryStore, SqliteStore
from loom.stores import memory as memory_store
from loom.stores.base import DEFAULT_LEASE_TIMEOUT, make_owner
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply

from .conftest import (
    linear_flow,
    make_flow,
    prop,
    props,
    runtime,
    server_tool,
    tool_node,
    tool_subflow,
)


def spin_flow() -> Any:
    """inc -> a branch that never matches -> inc...: a loop without end."""
    start = StartNode(name="start")
    step = tool_node("inc", [prop("counter", "integer", default=0)], props(counter="integer"))
    route = BranchingNode(name="never", mapping={"-1": "done"}, inputs=[prop("counter")])
    end = EndNode(name="end")
    return make_flow(
        "spin", [start, step, route, end],
        [(start, step), (step, route), (route, step, "default"), (route, end, "done")],
        [(step, "counter", step, "counter"), (step, "counter", route, "counter")],
    )


def test_max_steps_defaults_to_100_000_steps() -> None:
    calls = 0

    @loom.inline
    def inc(counter: int) -> dict[str, int]:
        nonlocal calls
        calls += 1
        return {"counter": counter + 1}

    result = runtime({"inc": inc}).run(spin_flow())
    assert result.status == "failed" and result.error is not None
    assert "ran 100000 steps without reaching an EndNode" in result.error.message
    assert calls == 50_000  # 100,000 steps = 50,000 x (inc, branch)


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        yield server


def test_an_agent_makes_at_most_10_llm_calls_by_default(llm_server: FakeLlmServer) -> None:
    llm_server.reset()
    config = OpenAiCompatibleConfig(name="fake", url=llm_server.url, model_id="fake-model")
    agent = Agent(name="looper", llm_config=config, system_prompt="You help.",
                  tools=[server_tool("ping", [], props(pong="string"))],
                  human_in_the_loop=False)
    llm_server.script(None, ToolCallsReply([ScriptedToolCall("ping", {})]))
    pings: list[int] = []

    def ping() -> str:
        pings.append(1)
        return "pong"

    result = runtime({"ping": ping}).run(agent)
    assert result.status == "failed" and result.error is not None
    assert "reached its limit of 10 LLM calls" in result.error.message
    assert len(llm_server.requests) == 10
    assert len(pings) == 10


def test_an_agent_waits_for_the_user_by_default(llm_server: FakeLlmServer) -> None:
    """``human_in_the_loop`` defaults to true: a plain answer at the top level waits."""
    llm_server.reset()
    config = OpenAiCompatibleConfig(name="fake", url=llm_server.url, model_id="fake-model")
    agent = Agent(name="helper", llm_config=config, system_prompt="You help.")
    assert agent.human_in_the_loop is True
    result = runtime().run(agent)
    assert result.status == "waiting"
    assert [request.kind for request in result.pending] == ["input"]


def fan_out_flow(items: int) -> Any:
    """A ParallelMapNode with no limit of its own over ``items`` calls of ``hold``."""
    inner = tool_subflow("hold_flow", "hold", [prop("value", "integer")], [prop("out", "integer")])
    node = ParallelMapNode(name="fan", subflow=inner)
    return linear_flow("fan_out", node,
                       inputs=[prop("iterated_value", {"type": "array",
                                                       "items": {"type": "integer"}})],
                       outputs=node.outputs or []), list(range(items))


def test_max_concurrency_defaults_to_1024_branches_in_flight() -> None:
    """1030 async branches that each wait until 1024 are in flight: exactly 1024 ever are."""
    state = {"now": 0, "max": 0}
    full: asyncio.Event | None = None

    async def hold(value: int) -> int:
        nonlocal full
        if full is None:
            full = asyncio.Event()
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        if state["now"] >= 1024:
            full.set()
        try:
            await asyncio.wait_for(full.wait(), 5)
        except TimeoutError:
            pass
        await asyncio.sleep(0.2)  # time for branches past the bound to start, if let
        state["now"] -= 1
        return value

    flow, items = fan_out_flow(1030)
    result = runtime({"hold": hold}).run(flow, {"iterated_value": items})
    assert result.status == "finished", result.error
    assert result.outputs["collected_out"] == items
    assert state["max"] == 1024


def test_tool_threads_defaults_to_256_threads() -> None:
    """260 blocking sync calls that each wait until 256 run at once: no more ever do."""
    lock = threading.Lock()
    full = threading.Event()
    state = {"now": 0, "max": 0}

    def hold(value: int) -> int:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
            if state["now"] >= 256:
                full.set()
        full.wait(5)
        time.sleep(0.2)  # time for calls past the bound to start, if the pool let them
        with lock:
            state["now"] -= 1
        return value

    flow, items = fan_out_flow(260)
    result = runtime({"hold": hold}).run(flow, {"iterated_value": items})
    assert result.status == "finished", result.error
    assert state["max"] == 256


def test_documented_runtime_defaults() -> None:
    defaults = {name: p.default for name, p in
                inspect.signature(loom.Runtime).parameters.items()
                if p.default is not inspect.Parameter.empty}
    assert {key: defaults[key] for key in (
        "max_concurrency", "tool_threads", "branch_timeout", "max_steps", "max_iterations",
        "checkpoint", "keep_finished", "use_env", "inline_tools")} == {
        "max_concurrency": 1024, "tool_threads": 256, "branch_timeout": None,
        "max_steps": 100_000, "max_iterations": 10, "checkpoint": "waits",
        "keep_finished": None, "use_env": True, "inline_tools": False}
    services = runtime().services
    assert (services.max_concurrency, services.max_steps, services.max_iterations,
            services.branch_timeout) == (1024, 100_000, 10, None)


def ask_flow() -> Any:
    node = InputMessageNode(name="ask", message="Your name?", outputs=[prop("name")])
    return linear_flow("asking", node, outputs=[prop("name")])


def test_checkpoints_default_to_waits_and_finished_runs_stay_in_a_persistent_store(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "runs.sqlite3")
    rt = runtime({"echo": lambda x: x}, store=store)
    assert rt.checkpoint == "waits" and rt.keep_finished is True
    never_waits = linear_flow("plain", tool_node("echo", [prop("x")], [prop("x")]),
                              inputs=[prop("x")], outputs=[prop("x")])
    assert rt.run(never_waits, {"x": "a"}).status == "finished"
    assert store.list() == []  # no wait, no checkpoint: nothing written
    waiting = rt.run(ask_flow())
    assert waiting.status == "waiting" and waiting.run_id is not None
    assert [(s.run_id, s.status) for s in store.list()] == [(waiting.run_id, "waiting")]
    done = rt.resume(waiting.run_id, {waiting.pending[0].id: "Ada"})
    assert done.status == "finished" and done.outputs == {"name": "Ada"}
    assert [(s.run_id, s.status) for s in store.list()] == [(waiting.run_id, "finished")]


def test_the_memory_store_forgets_finished_runs_by_default() -> None:
    store = MemoryStore()
    rt = runtime(store=store)
    assert rt.keep_finished is False
    waiting = rt.run(ask_flow())
    assert waiting.run_id is not None
    assert [s.status for s in store.list()] == ["waiting"]
    done = rt.resume(waiting.run_id, {waiting.pending[0].id: "Ada"})
    assert done.status == "finished"
    assert store.list() == []


def test_lease_timeout_defaults_to_one_hour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DEFAULT_LEASE_TIMEOUT == 3600.0
    assert SqliteStore(tmp_path / "runs.sqlite3").lease_timeout == 3600.0
    from loom.stores.postgres import PostgresStore
    assert inspect.signature(PostgresStore).parameters["lease_timeout"].default == 3600.0
    # A live holder's lease keeps another process out for an hour, no longer.
    store = MemoryStore()
    waiting = runtime(store=store).run(ask_flow())
    assert waiting.run_id is not None
    clock = SimpleNamespace(time=lambda: 1_000_000.0)
    monkeypatch.setattr(memory_store, "time", clock)
    store.claim(waiting.run_id, make_owner())  # this process: alive
    clock.time = lambda: 1_000_000.0 + 3599
    with pytest.raises(CheckpointError, match="is held by process"):
        store.claim(waiting.run_id, make_owner())
    clock.time = lambda: 1_000_000.0 + 3601
    assert store.claim(waiting.run_id, make_owner()).run_id == waiting.run_id


def test_the_bounded_tables_keep_what_the_readme_says() -> None:
    """Plans 256, agents' implicit flows 256, flows by digest 128, their secrets 4,096,
    texts 64, LLM clients 64."""
    from loom.runtime.agents import wrap

    rt = runtime()
    assert rt._compiler._plans.maxsize == 256
    assert wrap._flows.maxsize == 256
    assert rt._flows.maxsize == 128
    assert rt._secrets.maxsize == 4096
    assert rt._texts.maxsize == 64
    assert rt.services.effects._endpoint_clients.maxsize == 64
