"""Retries on Temporal. A ServerTool has no retry_policy (neither in Agent Spec nor in
pyagentspec): its call is retried only when its worker is lost or an attempt times
out, ``tool_attempts`` times in all, ``tool_timeout`` seconds each. An LLM config's
retry_policy is applied inside the LLM activity, as locally, and Temporal adds no
retries of its own on top."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import loom
from loom.spec import Flow, LlmNode
from loom.temporal import TemporalBackend
from loom.testing import FakeLlmServer
from runtime.conftest import linear_flow, llm_config, prop, tool_node
from temporal.backends import BACKENDS
from temporal.test_faults import fault_tools, lines
from temporal.test_scenarios import Counted, same_on_both
from temporal.workers import LOOM, worker_processes

pytestmark = pytest.mark.timeout(150)

TOOLS = fault_tools(1.0)


async def first_call_started(directory: Path, going: Callable[[], bool]) -> int:
    """The pid of the worker that started the first call."""
    deadline = time.monotonic() + 60
    while not lines(directory / "started"):
        assert time.monotonic() < deadline and going(), "the call never started"
        await asyncio.sleep(0.02)
    return lines(directory / "started")[0][1]


def one_tool_flow(directory: Path) -> tuple[Flow, Path, dict[str, str]]:
    """The flow (also written to flow.json), its tools file, the workers' environment."""
    (directory / "tools.py").write_text(TOOLS)
    flow = linear_flow("main", tool_node("step", [prop("value", "integer")],
                                         [prop("doubled", "integer")]),
                       inputs=[prop("value", "integer")], outputs=[prop("doubled", "integer")])
    (directory / "flow.json").write_text(loom.dumps(flow))
    return flow, directory / "tools.py", {**os.environ, "FAULT_DIR": str(directory)}


async def test_a_tool_lost_with_its_worker_runs_again_per_tool_attempts(
    temporal_server: str, task_queue: str, tmp_path: Path
) -> None:
    """``loom run --tool-attempts 2``: the call lost with its worker runs again on the
    other one (started twice, finished once)."""
    _, tools, env = one_tool_flow(tmp_path)
    with worker_processes(2, temporal_server, task_queue, tools, env) as workers:
        run = subprocess.Popen(
            [LOOM, "run", str(tmp_path / "flow.json"), "-i", "value=21", "--json",
             "--backend", f"temporal://{temporal_server}/default", "--task-queue", task_queue,
             "--tool-timeout", "3", "--tool-attempts", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            busy = await first_call_started(tmp_path, lambda: run.poll() is None)
            next(w for w in workers if w.pid == busy).send_signal(signal.SIGKILL)
            out, errors = await asyncio.to_thread(run.communicate, timeout=90)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
    assert run.returncode == 0, errors
    assert json.loads(out)["outputs"] == {"doubled": 42}
    [(_, first), (_, second)] = lines(tmp_path / "started")
    assert first == busy and second != busy  # run again, on the survivor
    assert lines(tmp_path / "finished") == [(21, second)]


async def test_a_tool_lost_with_its_only_attempt_fails_the_run(
    temporal_server: str, task_queue: str, tmp_path: Path
) -> None:
    """``tool_attempts=1``: the run fails once the attempt times out, naming the node
    and what to change; the call never runs again."""
    flow, tools, env = one_tool_flow(tmp_path)
    backend = TemporalBackend(f"temporal://{temporal_server}/default", task_queue,
                              tool_timeout=3, tool_attempts=1)
    with worker_processes(2, temporal_server, task_queue, tools, env) as workers, \
            loom.Runtime(backend=backend) as runtime:
        task = asyncio.ensure_future(runtime.arun(flow, {"value": 21}))
        busy = await first_call_started(tmp_path, lambda: not task.done())
        next(w for w in workers if w.pid == busy).send_signal(signal.SIGKILL)
        result = await asyncio.wait_for(task, 90)
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > step"
    assert "tool 'step' raised ToolTimeout: no worker finished it within 3 s, 1 attempt(s)" \
        in result.error.message
    assert "tool_attempts=" in result.error.message
    assert lines(tmp_path / "started") == [(21, busy)]
    assert lines(tmp_path / "finished") == []


def test_tool_attempts_are_checked() -> None:
    with pytest.raises(loom.LoomError, match="at least 1 attempt"):
        TemporalBackend("temporal://127.0.0.1:7233/default", tool_attempts=0)


@pytest.mark.parametrize("failures", [2, 3])
@pytest.mark.parametrize("kind", BACKENDS)
async def test_an_llm_configs_retry_policy_applies_inside_the_activity(
    kind: str, temporal_server: str, task_queue: str, llm_server: FakeLlmServer, failures: int
) -> None:
    """Two retries allowed: two 503s are retried and the third request answers; three
    503s fail the run as locally, after exactly three requests (no Temporal retry)."""
    policy = {"max_attempts": 2, "initial_retry_delay": 0.01, "max_retry_delay": 0.02,
              "jitter": None}
    step = LlmNode(name="ask", llm_config=llm_config(llm_server, retry_policy=policy),
                   prompt_template="Hi")
    flow = linear_flow("main", step, outputs=step.outputs or [])

    def script() -> None:
        llm_server.reset()
        llm_server.fail_next(failures, status=503)

    result, _ = await same_on_both(kind, temporal_server, task_queue, Counted, flow,
                                   script=script, llm=llm_server)
    statuses = [r.status for r in llm_server.recorded]  # of the last backend's run
    if failures == 2:
        assert result.status == "finished", result.error
        assert statuses == [503, 503, 200]
    else:
        assert result.status == "failed" and result.error is not None
        assert result.error.node == "main > ask"
        assert "gave up after 3 attempts" in result.error.message
        assert statuses == [503, 503, 503]
