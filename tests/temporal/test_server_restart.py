"""The Temporal server restarted while a run waits: the answer still resumes it.

The dev server keeps its state in a SQLite file; it is stopped (SIGTERM, or SIGKILL
as a crash) while two runs wait for a person, and started again on the same port
and file. The one ``loom worker`` process is never restarted: temporalio's worker
retries its polls while the server is away and carries on when it is back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import loom
from loom.spec.nodes import InputMessageNode
from loom.temporal import TemporalBackend
from processes import stop_process
from runtime.conftest import linear_flow, prop, tool_node
from temporal.conftest import free_port, start_dev_server
from temporal.workers import LOOM, worker_processes

pytestmark = pytest.mark.timeout(180)

TOOLS = '''
import os

def _log(name, value):
    with open(os.environ["RESTART_DIR"] + "/calls", "a") as log:
        log.write(f"{name} {value}\\n")

def greet(name: str) -> str:
    _log("greet", name)
    return "hello " + name

def shout(text: str) -> str:
    _log("shout", text)
    return text.upper() + "!"
'''


class Server:
    """A dev server on a fixed port with a file database, that a test can restart."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.database = directory / "temporal.db"
        self.log = (directory / "server.log").open("ab")
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        return start_dev_server(self.port, self.log, "--db-filename", str(self.database))

    def restart(self, signum: int) -> None:
        self.process.send_signal(signum)
        self.process.wait(30)
        self.process = self._start()

    def close(self) -> None:
        stop_process(self.process)
        self.log.close()


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path)
    try:
        yield server
    finally:
        server.close()


def loom_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LOOM, *args], capture_output=True, text=True, timeout=90)


def calls(directory: Path) -> Counter[str]:
    path = directory / "calls"
    return Counter(path.read_text().splitlines()) if path.exists() else Counter()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_a_waiting_run_resumes_after_the_server_restarts(
    file_server: Server, task_queue: str, tmp_path: Path, signum: int
) -> None:
    ask = InputMessageNode(name="ask", message="Say something", outputs=[prop("text")])
    flow = linear_flow("main", tool_node("greet", [prop("name")], [prop("greeting")]), ask,
                       tool_node("shout", [prop("text")], [prop("loud")]),
                       inputs=[prop("name")], outputs=[prop("greeting"), prop("loud")])
    config, tools = tmp_path / "flow.json", tmp_path / "tools.py"
    config.write_text(loom.dumps(flow))
    tools.write_text(TOOLS)
    url = f"temporal://{file_server.address}/default"
    cli = ["--backend", url, "--task-queue", task_queue]
    env = {**os.environ, "RESTART_DIR": str(tmp_path)}
    with worker_processes(1, file_server.address, task_queue, tools, env) as [worker]:
        started = loom_command("run", str(config), "-i", "name=ada", "--json", *cli)
        assert started.returncode == 3, started.stderr
        by_cli = json.loads(started.stdout)["run_id"]
        backend = TemporalBackend(url, task_queue)
        with loom.Runtime(backend=backend) as runtime:
            waiting = await runtime.arun(flow, {"name": "bob"})
        assert waiting.status == "waiting", waiting.error
        assert calls(tmp_path) == Counter({"greet ada": 1, "greet bob": 1})

        file_server.restart(signum)
        assert worker.poll() is None, "the worker stopped with the server"

        done = loom_command("resume", by_cli, "--answer", "first", "--json", *cli)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["outputs"] == {"greeting": "hello ada", "loud": "FIRST!"}
        with loom.Runtime(backend=TemporalBackend(url, task_queue)) as runtime:
            [request] = (await backend.aview(waiting.run_id or "")).pending
            resumed = await runtime.aresume(waiting.run_id or "", {request.id: "second"})
        assert resumed.status == "finished", resumed.error
        assert resumed.outputs == {"greeting": "hello bob", "loud": "SECOND!"}
    assert worker.returncode == 0, (tmp_path / "worker0.log").read_text()
    assert calls(tmp_path) == Counter({"greet ada": 1, "greet bob": 1, "shout first": 1,
                                       "shout second": 1})  # each tool ran once per run
