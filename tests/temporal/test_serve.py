"""`loom serve DIR --backend temporal://...` as a process, with a `loom worker`: the runs
of the HTTP API live in Temporal, and a restarted server still serves them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

import loom
from loom.temporal import connect
from runtime.conftest import linear_flow, prop, tool_node
from server.helpers import ServerProcess, free_port, wait_status
from temporal.test_cli import TOOLS, worker_process

pytestmark = pytest.mark.timeout(180)

SLOW = TOOLS + "\n\nasync def slow() -> str:\n    import asyncio\n\n" \
    "    await asyncio.sleep(60)\n    return 'late'\n"


def events(client: httpx.Client, run_id: str, after: int = 0,
           until: str | None = None) -> list[tuple[int, str, dict]]:
    """The stream's events (to its end, or to the first of type ``until``)."""
    seen = []
    with connect_sse(client, "GET", f"/v1/runs/{run_id}/events",
                     params={"after": after}) as source:
        for event in source.iter_sse():
            seen.append((int(event.id), event.event, json.loads(event.data)))
            if event.event == until:
                break
    return seen


async def test_serve_runs_that_live_in_temporal(
    temporal_server: str, task_queue: str, tmp_path: Path
) -> None:
    with worker_process(temporal_server, task_queue, tmp_path, SLOW) as (config, backend):
        configs = tmp_path / "configs"
        configs.mkdir()
        shutil.copy(config, configs / "ask.json")
        slow = linear_flow("slow_flow", tool_node("slow", [], [prop("out")]),
                           outputs=[prop("out")])
        (configs / "slow.json").write_text(loom.dumps(slow))
        server = ServerProcess([str(configs), *backend], ready_within=90)
        client = httpx.Client(base_url=server.url, timeout=30)
        try:
            started = client.post("/v1/components/ask/runs", json={"run_id": f"r-{task_queue}"})
            assert started.status_code == 202, started.text
            run_id = started.json()["run_id"]
            waiting = wait_status(client, run_id, ["waiting"], timeout=60)
            [request] = waiting["pending"]
            assert request["prompt"] == "Say something" and waiting["component"] == "ask"
            handle = (await connect(temporal_server)).get_workflow_handle(run_id)
            assert (await handle.describe()).workflow_type == "loom.run"  # run id = workflow id
            again = client.post("/v1/components/ask/runs", json={"run_id": run_id})
            assert again.status_code == 200 and again.json()["status"] == "waiting"
            other = client.post("/v1/components/ask/runs",
                                json={"run_id": run_id, "inputs": {}, "metadata": {}})
            assert other.status_code == 200  # the same inputs: the same run
            assert client.post("/v1/components/slow/runs",
                               json={"run_id": run_id}).status_code == 409
            first = events(client, run_id)  # to the wait, then the stream ends
            assert [seq for seq, _, _ in first] == list(range(1, len(first) + 1))
            kinds = [kind for _, kind, _ in first]
            assert kinds[0] == "FlowExecutionStart" and "HumanInTheLoopRequest" in kinds
            assert {data["run_id"] for _, _, data in first} == {run_id}
        finally:
            client.close()
            server.stop()
        server = ServerProcess([str(configs), *backend], ready_within=90)  # nothing kept here
        client = httpx.Client(base_url=server.url, timeout=30)
        try:
            assert client.get(f"/v1/runs/{run_id}").json()["pending"] == [request]
            bad = client.post(f"/v1/runs/{run_id}/answers", json={"answers": {"nope": "x"}})
            assert bad.status_code == 409 and bad.json()["error"]["code"] == "not_pending"
            answered = client.post(f"/v1/runs/{run_id}/answers",
                                   json={"answers": {request["id"]: "hey"}})
            assert answered.status_code == 200, answered.text
            done = wait_status(client, run_id, ["finished"], timeout=60)
            assert done["outputs"] == {"loud": "HEY!"} and done["error"] is None
            rest = events(client, run_id, after=len(first))
            assert [seq for seq, _, _ in rest][0] == len(first) + 1
            assert [kind for _, kind, _ in rest][-1] == "FlowExecutionEnd"
            assert "ToolExecutionResponse" in [kind for _, kind, _ in rest]
            assert events(client, run_id)[:len(first)] == first  # numbered the same again
            listed = client.get("/v1/runs", params={"component": "ask"}).json()["data"]
            assert [(r["run_id"], r["status"]) for r in listed] == [(run_id, "finished")]

            slow_run = client.post("/v1/components/slow/runs", json={}).json()["run_id"]
            live = events(client, slow_run, until="ToolExecutionRequest")  # while it runs
            assert live[-1][1] == "ToolExecutionRequest"
            assert client.get(f"/v1/runs/{slow_run}").json()["status"] == "running"
            began = time.monotonic()
            cancelled = client.post(f"/v1/runs/{slow_run}/cancel").json()
            assert cancelled["status"] == "cancelled", cancelled
            assert cancelled["error"]["message"] == "the run was cancelled"
            assert time.monotonic() - began < 10
            tail = events(client, slow_run)
            assert tail[-1][1] in ("loom.SpanClosed", "ToolExecutionResponse",
                                   "FlowExecutionEnd")
            assert client.post(f"/v1/runs/{slow_run}/answers",
                               json={"answers": {"x": 1}}).status_code == 409
            statuses = {r["run_id"]: r["status"]
                        for r in client.get("/v1/runs").json()["data"]}
            assert statuses == {run_id: "finished", slow_run: "cancelled"}
            assert client.get("/v1/runs/no-such-run").status_code == 404
        finally:
            client.close()
            server.stop()


def test_serve_says_when_temporal_is_out_of_reach(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "loom"), "serve", str(tmp_path / "configs"),
         "--backend", f"temporal://127.0.0.1:{free_port()}/default", "--port",
         str(free_port())], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "cannot reach Temporal at 127.0.0.1" in done.stderr
    assert "start the server, or fix --backend" in done.stderr
    assert "Traceback" not in done.stderr
