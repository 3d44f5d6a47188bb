"""Stores across processes: a run killed with SIGKILL resumes from its last checkpoint
without repeating finished tool calls; two processes resuming one run: one wins.
Both on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import loom
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

WORKER = Path(__file__).with_name("worker.py")


def integer(title: str) -> Property:
    return Property(json_schema={"title": title, "type": "integer"})


def chain(name: str, *nodes: Any, inputs: list[Property], outputs: list[Property]) -> Flow:
    start = StartNode(name="start", inputs=inputs)
    end = EndNode(name="end", inputs=outputs)
    steps = [start, *nodes, end]
    edges = [ControlFlowEdge(name=f"e{i}", from_node=a, to_node=b)
             for i, (a, b) in enumerate(itertools.pairwise(steps))]
    return Flow(name=name, start_node=start, nodes=steps, control_flow_connections=edges)


def counting_flow(steps: int) -> Flow:
    """n -> s1 -> s2 ... -> n: each ToolNode calls `step`, which logs and adds one."""
    nodes = []
    for i in range(1, steps + 1):
        label = Property(json_schema={"title": "label", "type": "string", "default": f"s{i}"})
        tool = ServerTool(name="step", inputs=[integer("n"), label], outputs=[integer("n")])
        nodes.append(ToolNode(name=f"s{i}", tool=tool))
    return chain("counting", *nodes, inputs=[integer("n")], outputs=[integer("n")])


def wait_for_lines(log: Path, count: int, process: subprocess.Popen[str], timeout: float = 30
                   ) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= count:
            return
        if process.poll() is not None:
            raise AssertionError(f"the worker ended early: {process.communicate()}")
        time.sleep(0.01)
    raise AssertionError(f"{count} lines did not appear in {log}")


def test_a_run_killed_mid_way_resumes_from_its_last_checkpoint(
    store_backend: Any, tmp_path: Path
) -> None:
    flow_path, log = tmp_path / "flow.json", tmp_path / "calls.log"
    flow_path.write_text(loom.dumps(counting_flow(6)))
    spec = json.dumps(store_backend.spec)
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), "run", spec, str(flow_path), "killed", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_lines(log, 3, worker)  # s1 and s2 finished (and were saved), s3 started
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.communicate(timeout=10)
    assert worker.returncode == -signal.SIGKILL

    store = store_backend.open()
    saved = store.load("killed")
    assert saved.status == "running"  # the last checkpoint, written by the dead process
    assert sorted(saved.entries) == ["counting>s1#1", "counting>s2#1"]
    assert saved.owner and saved.owner.split(":")[1] == str(worker.pid)

    calls: list[str] = []

    def step(n: int, label: str) -> int:
        calls.append(label)
        with log.open("a") as out:
            out.write(f"start {label} {n}\n")
        return n + 1

    with loom.Runtime(tools={"step": step}, store=store, use_env=False,
                      checkpoint="nodes") as rt:
        result = rt.resume("killed")
    assert result.status == "finished", result.error
    assert result.outputs == {"n": 6}
    # Finished calls were not run again; the one cut off by the kill ran again.
    assert calls == ["s3", "s4", "s5", "s6"]
    lines = Counter(line.split()[1] for line in log.read_text().splitlines())
    assert lines == {"s1": 1, "s2": 1, "s3": 2, "s4": 1, "s5": 1, "s6": 1}
    assert store.load("killed").status == "finished"


def test_two_processes_resuming_one_run_one_wins(store_backend: Any, tmp_path: Path) -> None:
    ask = InputMessageNode(name="ask", message="go?")
    slow = ToolNode(name="slow_step", tool=ServerTool(
        name="slow", outputs=[Property(json_schema={"title": "slept", "type": "string"})]))
    flow = chain("racing", ask, slow, inputs=[],
                 outputs=[Property(json_schema={"title": "slept", "type": "string"})])
    with loom.Runtime(tools={"slow": lambda: "never"}, store=store_backend.open(),
                      use_env=False) as rt:
        waiting = rt.run(flow, run_id="race")
    assert waiting.status == "waiting"
    answers = json.dumps({waiting.pending[0].id: "yes"})
    go = tmp_path / "go"
    spec = json.dumps(store_backend.spec)
    workers = [
        subprocess.Popen([sys.executable, str(WORKER), "resume", spec, "race", str(go), answers],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("go.ready.*"))) < 2:  # both wait for the signal
        assert time.monotonic() < deadline and all(w.poll() is None for w in workers)
        time.sleep(0.01)
    go.touch()
    outcomes = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert out, err
        outcomes.append((worker.returncode, json.loads(out.splitlines()[-1])))
    winners = [o for code, o in outcomes if code == 0]
    losers = [o for code, o in outcomes if code == 4]
    assert winners == [{"status": "finished", "outputs": {"slept": "slept"}}], outcomes
    assert len(losers) == 1
    assert "run 'race' is held by process" in losers[0]["error"]
    assert "still running it" in losers[0]["error"]
    assert store_backend.open().load("race").status == "finished"
