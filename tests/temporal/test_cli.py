"""`loom worker`, `loom run --backend` and `loom resume --backend` as processes: the
same --json shapes and exit codes as the local backend."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import loom
from loom.spec.nodes import InputMessageNode
from runtime.conftest import linear_flow, prop, tool_node

pytestmark = pytest.mark.timeout(120)

LOOM = str(Path(sys.executable).parent / "loom")
TOOLS = "def shout(text: str) -> str:\n    return text.upper() + '!'\n"


def loom_command(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LOOM, *args], capture_output=True,
                          text=True, timeout=timeout)


@contextlib.contextmanager
def worker_process(server: str, task_queue: str, tmp_path: Path, tools_text: str = TOOLS
                   ) -> Iterator[tuple[Path, list[str]]]:
    """A `loom worker` process for the block: (the flow's file, the --backend options).
    The flow asks for a text and shouts it with a tool."""
    ask = InputMessageNode(name="ask", message="Say something", outputs=[prop("text")])
    flow = linear_flow("main", ask, tool_node("shout", [prop("text")], [prop("loud")]),
                       outputs=[prop("loud")])
    config, tools = tmp_path / "flow.json", tmp_path / "tools.py"
    config.write_text(loom.dumps(flow))
    tools.write_text(tools_text)
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [LOOM, "worker", "--temporal", server,
         "--task-queue", task_queue, "--tools", str(tools)],
        stdout=subprocess.DEVNULL, stderr=log)
    try:
        yield config, ["--backend", f"temporal://{server}/default", "--task-queue", task_queue]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()  # SIGTERM: a clean stop


def test_run_waits_and_resume_answers_through_a_worker(
    temporal_server: str, task_queue: str, tmp_path: Path
) -> None:
    with worker_process(temporal_server, task_queue, tmp_path) as (config, backend):
        started = loom_command("run", str(config), "--json", *backend)
        assert started.returncode == 3, started.stderr  # waits, as locally
        waiting = json.loads(started.stdout)
        assert waiting["status"] == "waiting"
        assert set(waiting) == {"status", "run_id", "outputs", "messages", "pending"}
        [request] = waiting["pending"]
        assert request["prompt"] == "Say something" and request["node"] == "main > ask"
        done = loom_command("resume", waiting["run_id"], "--answer", "hello", "--json",
                            *backend)
        assert done.returncode == 0, done.stderr
        finished = json.loads(done.stdout)
        assert finished["status"] == "finished"
        assert finished["outputs"] == {"loud": "HELLO!"}
        again = loom_command("resume", waiting["run_id"], "--answer", "x", *backend)
        assert again.returncode == 2 and "already finished" in again.stderr
        traced = loom_command("run", str(config), "--trace", str(tmp_path / "t.jsonl"),
                              *backend)
        assert traced.returncode == 2 and "--trace does not work with --backend" in traced.stderr
        unknown = loom_command("resume", "no-such-run", "--answer", "x", "--json", *backend)
        assert unknown.returncode == 2
        assert json.loads(unknown.stdout)["error"]["message"].startswith("no run 'no-such-run'")


def test_runs_cancel_ends_a_waiting_run_in_temporal(
    temporal_server: str, task_queue: str, tmp_path: Path
) -> None:
    with worker_process(temporal_server, task_queue, tmp_path) as (config, backend):
        started = loom_command("run", str(config), "--json", *backend)
        assert started.returncode == 3, started.stderr
        run_id = json.loads(started.stdout)["run_id"]
        cancelled = loom_command("runs", "cancel", run_id, "--json", *backend)
        assert cancelled.returncode == 0, cancelled.stderr
        assert json.loads(cancelled.stdout) == {"run_id": run_id, "status": "cancelled"}
        resumed = loom_command("resume", run_id, "--answer", "x", *backend)
        assert resumed.returncode == 2
        assert f"run '{run_id}' already cancelled" in resumed.stderr
        again = loom_command("runs", "cancel", run_id, *backend)
        assert again.returncode == 0 and f"cancelled run {run_id}" in again.stdout

        other = json.loads(loom_command("run", str(config), "--json", *backend).stdout)
        done = loom_command("resume", other["run_id"], "--answer", "hi", *backend)
        assert done.returncode == 0, done.stderr
        late = loom_command("runs", "cancel", other["run_id"], *backend)
        assert late.returncode == 1
        assert "already finished; there is nothing to cancel" in late.stderr
        missing = loom_command("runs", "cancel", "no-such-run", *backend)
        assert missing.returncode == 1 and "no run 'no-such-run' in Temporal" in missing.stderr
