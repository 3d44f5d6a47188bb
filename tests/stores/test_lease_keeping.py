"""A run held in a shared store keeps its lease while it runs, and stops if it loses it."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from typing import Any

import pytest

import loom
from loom.runtime.result import RunResult
from loom.spec import (
    ControlFlowEdge,
    EndNode,
    Flow,
    InputMessageNode,
    Property,
    ServerTool,
    StartNode,
    ToolNode,
)
from loom.stores.base import describe_owner

LEASE = 0.3  # seconds: the runtime renews every 0.1 s
HOLDER = "elsewhere:4242:feed"  # another host: only the lease says whether it is alive


def integer(title: str) -> Property:
    return Property(json_schema={"title": title, "type": "integer"})


def three_steps() -> Flow:
    """quick -> slow -> last, each adding one to n."""
    start = StartNode(name="start", inputs=[integer("n")])
    steps = [
        ToolNode(name=name, tool=ServerTool(name=name, inputs=[integer("n")],
                                            outputs=[integer("n")]))
        for name in ("quick", "slow", "last")
    ]
    end = EndNode(name="end", inputs=[integer("n")])
    nodes = [start, *steps, end]
    edges = [ControlFlowEdge(name=f"e{i}", from_node=a, to_node=b)
             for i, (a, b) in enumerate(itertools.pairwise(nodes))]
    return Flow(name="steps", start_node=start, nodes=nodes, control_flow_connections=edges,
                inputs=[integer("n")], outputs=[integer("n")])


def set_owner(backend: Any, run_id: str, owner: str) -> None:
    """Another process takes the run over, behind this one's back."""
    if backend.kind == "sqlite":
        with sqlite3.connect(backend.spec["path"]) as db:
            db.execute("UPDATE loom_runs SET owner = ?, lease_at = ? WHERE run_id = ?",
                       (owner, time.time(), run_id))
    else:
        import psycopg

        with psycopg.connect(backend.spec["dsn"]) as db:
            db.execute(f"UPDATE {backend.spec['table']} SET owner = %s, lease_at = %s "
                       "WHERE run_id = %s", (owner, time.time(), run_id))


class Started:
    """Runs the flow in a thread; ``slow`` holds until ``release`` (or 10 s)."""

    def __init__(self, backend: Any, monkeypatch: pytest.MonkeyPatch,
                 lease: float = LEASE) -> None:
        monkeypatch.setattr("loom.runtime.effects.make_owner", lambda: HOLDER)
        self.calls: list[str] = []
        self.in_slow = threading.Event()
        self.release = threading.Event()

        def quick(n: int) -> int:
            self.calls.append("quick")
            return n + 1

        def slow(n: int) -> int:
            self.calls.append("slow")
            self.in_slow.set()
            self.release.wait(10)
            return n + 1

        def last(n: int) -> int:
            self.calls.append("last")
            return n + 1

        self.runtime = loom.Runtime(tools={"quick": quick, "slow": slow, "last": last},
                                    store=backend.open(lease_timeout=lease), checkpoint="nodes")
        self.result: RunResult | None = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        assert self.in_slow.wait(10)

    def _run(self) -> None:
        self.result = self.runtime.run(three_steps(), {"n": 0}, run_id="long")

    def finish(self) -> RunResult:
        self.release.set()
        self.thread.join(10)
        self.runtime.close()
        assert self.result is not None
        return self.result


def test_a_long_step_keeps_the_runs_lease(store_backend: Any,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    started = Started(store_backend, monkeypatch)
    time.sleep(4 * LEASE)  # well past the lease of the checkpoint written before 'slow'
    with pytest.raises(loom.CheckpointError) as caught:
        store_backend.open(lease_timeout=LEASE).claim("long", "here:1:x")
    assert f"is held by {describe_owner(HOLDER)}" in str(caught.value)
    result = started.finish()
    assert result.status == "finished" and result.outputs == {"n": 3}
    assert started.calls == ["quick", "slow", "last"]


def test_a_run_taken_over_stops_here_and_leaves_the_new_holders_state(
        store_backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    started = Started(store_backend, monkeypatch)
    set_owner(store_backend, "long", "thief:7:beef")
    deadline = time.monotonic() + 5
    while started.result is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the next renewal finds the run gone and stops it
    result = started.finish()
    assert result.status == "failed" and result.error is not None
    assert "run 'long' was taken over by another process" in result.error.message
    assert started.calls == ["quick", "slow"]  # 'last' never ran here
    summary = store_backend.open().list()[0]
    assert summary.owner == "thief:7:beef" and summary.status == "running"


def test_a_checkpoint_refused_to_a_run_taken_over_stops_it_too(
        store_backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # A long lease: no renewal happens during the test; the save after 'slow' finds out.
    started = Started(store_backend, monkeypatch, lease=600)
    set_owner(store_backend, "long", "thief:7:beef")
    result = started.finish()
    assert result.status == "failed" and result.error is not None
    assert "run 'long' was taken over by process 7 on thief" in result.error.message
    assert started.calls == ["quick", "slow"]  # the step after the refused save never ran
    owner, text = store_backend.open().list()[0].owner, store_backend.open().load("long")
    assert owner == "thief:7:beef" and text.status == "running"
    assert list(text.entries) == ["steps>quick#1"]  # our 'slow' result was not written


def test_a_finished_run_taken_over_is_not_deleted_from_under_its_new_holder(
        store_backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Checkpoints at waits only, finished runs not kept: the last store call is a delete.
    monkeypatch.setattr("loom.runtime.effects.make_owner", lambda: HOLDER)
    in_slow, release = threading.Event(), threading.Event()

    def slow(n: int) -> int:
        in_slow.set()
        release.wait(10)
        return n + 1

    start = StartNode(name="start")
    ask = InputMessageNode(name="ask", message="n?", outputs=[integer("n")])
    step = ToolNode(name="slow", tool=ServerTool(name="slow", inputs=[integer("n")],
                                                 outputs=[integer("n")]))
    end = EndNode(name="end", inputs=[integer("n")])
    nodes = [start, ask, step, end]
    flow = Flow(name="asks", start_node=start, nodes=nodes, outputs=[integer("n")],
                control_flow_connections=[
                    ControlFlowEdge(name=f"e{i}", from_node=a, to_node=b)
                    for i, (a, b) in enumerate(itertools.pairwise(nodes))])
    runtime = loom.Runtime(tools={"slow": slow}, store=store_backend.open(lease_timeout=600),
                           keep_finished=False)
    waiting = runtime.run(flow, {}, run_id="asks")
    assert waiting.status == "waiting"
    results: list[RunResult] = []
    thread = threading.Thread(
        target=lambda: results.append(runtime.resume("asks", {waiting.pending[0].id: 1})))
    thread.start()
    assert in_slow.wait(10)
    set_owner(store_backend, "asks", "thief:7:beef")
    release.set()
    thread.join(10)
    runtime.close()
    [result] = results
    assert result.status == "failed" and result.error is not None
    assert result.error.message == ("run 'asks' was taken over by another process before it "
                                    "finished here; it is left to that process")
    assert store_backend.open().list()[0].owner == "thief:7:beef"  # still there, theirs
