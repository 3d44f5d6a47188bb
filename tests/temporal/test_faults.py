"""A worker killed with SIGKILL mid-run while another runs: the run finishes, no
finished tool call runs again, and the call in flight is retried on the survivor."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

import loom
from loom.spec.nodes import MapNode
from loom.temporal import TemporalBackend
from runtime.conftest import linear_flow, prop, tool_subflow
from temporal.workers import worker_processes

pytestmark = pytest.mark.timeout(120)

ITEMS = 12


def fault_tools(seconds: float) -> str:
    """A tools file whose ``step`` logs its start and end (value, pid) under $FAULT_DIR
    and takes ``seconds``: the calls a killed worker leaves are counted from it."""
    return f'''
import os, time

def step(value: int) -> int:
    with open(os.environ["FAULT_DIR"] + "/started", "a") as log:
        log.write(f"{{value}} {{os.getpid()}}\\n")
    time.sleep({seconds})
    with open(os.environ["FAULT_DIR"] + "/finished", "a") as log:
        log.write(f"{{value}} {{os.getpid()}}\\n")
    return value * 2
'''


TOOLS = fault_tools(0.4)


def lines(path: Path) -> list[tuple[int, int]]:
    if not path.exists():
        return []
    return [(int(a), int(b)) for a, b in (line.split() for line in path.read_text().split("\n")
                                           if line)]


async def test_a_killed_worker_loses_no_finished_work(
    temporal_server: str, task_queue: str, tmp_path: Path
) -> None:
    tools = tmp_path / "tools.py"
    tools.write_text(TOOLS)
    env = {**os.environ, "FAULT_DIR": str(tmp_path)}
    sub = tool_subflow("one", "step", [prop("value", "integer")], [prop("doubled", "integer")])
    node = MapNode(name="each", subflow=sub)
    flow = linear_flow("main", node, inputs=[prop("iterated_value",
                                                  {"type": "array", "items": {"type": "integer"}})],
                       outputs=node.outputs or [])
    backend = TemporalBackend(f"temporal://{temporal_server}/default", task_queue,
                              tool_timeout=2.0)
    killed = None
    with worker_processes(2, temporal_server, task_queue, tools, env) as workers, \
            loom.Runtime(backend=backend) as runtime:
        run = asyncio.ensure_future(runtime.arun(flow, {"iterated_value": list(range(ITEMS))}))
        deadline = time.monotonic() + 60
        while True:  # a few calls done, one in flight
            done, began = lines(tmp_path / "finished"), lines(tmp_path / "started")
            if len(done) >= 3 and len(began) > len(done):
                break
            assert time.monotonic() < deadline and not run.done(), "the run did not start"
            await asyncio.sleep(0.02)
        busy = next(pid for item in began if item not in done for pid in [item[1]])
        killed = next(w for w in workers if w.pid == busy)
        killed.send_signal(signal.SIGKILL)
        result = await asyncio.wait_for(run, 90)
    assert result.status == "finished", result.error
    assert result.outputs == {"collected_doubled": [2 * i for i in range(ITEMS)]}
    finished = Counter(value for value, _ in lines(tmp_path / "finished"))
    assert finished == Counter(range(ITEMS)), "a finished call ran again, or one never finished"
    started = Counter(value for value, _ in lines(tmp_path / "started"))
    rerun = [value for value, count in started.items() if count > 1]
    assert killed is not None and killed.returncode == -signal.SIGKILL
    by_killed = {value for value, pid in lines(tmp_path / "started") if pid == killed.pid}
    done_by_killed = {value for value, pid in lines(tmp_path / "finished") if pid == killed.pid}
    in_flight = by_killed - done_by_killed
    assert len(in_flight) == 1  # it died in the middle of a call...
    assert rerun == sorted(in_flight)  # ...which alone ran again, on the survivor
    survivor = {pid for _, pid in lines(tmp_path / "finished")} - {killed.pid}
    assert survivor, "the surviving worker ran nothing"
