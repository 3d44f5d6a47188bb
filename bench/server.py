"""``loom serve`` under load: the seed flow through the HTTP API vs the Python API.

    .venv/bin/python bench/server.py [--quick] [--runs 200] [--soak 10000]

(a) ``--runs`` (200) seed-flow runs started at once (configs/seed_marketing.json:
    4 tools of 0.2 s in parallel, then an LLM call to loom's FakeLlmServer at the
    manifest's latency) through a ``loom serve`` process (SQLite store, one
    ``POST /v1/components/seed/runs?wait=60`` each, over HTTP from one client
    process), and the same runs through ``Runtime.arun`` in one process: wall
    time, throughput, p50/p99 latency per run, errors (none allowed), and the
    throughput ratio; then the same runs through the doors: OpenAI chat
    completions, OpenAI responses and A2A ``SendMessage`` (``model`` / agent
    ``seed``, the username as the user message, not streaming).
(b) The server's RSS before and after ``--soak`` (10,000) more runs, 200 at a time.

``--quick``: 20 runs and a soak of 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import httpx  # noqa: E402

import loom  # noqa: E402
from loom.server.events import EventLog  # noqa: E402
from loom.testing import FakeLlmServer  # noqa: E402

LOOM = Path(sys.executable).with_name("loom")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Server:
    """`loom serve` on a free port (stopped by ``close``)."""

    def __init__(self, place: Path, llm_url: str) -> None:
        configs = place / "configs"
        configs.mkdir()
        (configs / "seed.json").write_text(common.config_text("seed_marketing.json", llm_url))
        tools = common.CONFIG_DIR / common.manifest().get("tools", "tools.py")
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(place / "server.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(LOOM), "serve", str(configs), "--port", str(self.port), "--tools", str(tools),
             "--store", f"sqlite:///{place}/server.sqlite3"],
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "LOOM_SERVER_TOKENS": ""},
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"loom serve exited; see {place / 'server.log'}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("loom serve did not get ready in 60 s")
            time.sleep(0.1)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


Door = tuple[str, Any, Any]  # path, body from the inputs, whether the answer is a finished run


def _user_text(inputs: dict[str, Any]) -> str:
    return str(next(iter(inputs.values()))) if len(inputs) == 1 else json.dumps(inputs)


def _a2a_message(inputs: dict[str, Any]) -> dict[str, Any]:
    message = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER",
               "parts": [{"text": _user_text(inputs)}]}
    return {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}


DOORS: dict[str, Door] = {
    "HTTP API (loom serve)": (
        "/v1/components/seed/runs?wait=60", lambda inputs: {"inputs": inputs},
        lambda status, data: status == 202 and data["status"] == "finished"),
    "OpenAI chat completions": (
        "/v1/chat/completions",
        lambda inputs: {"model": "seed", "messages": [{"role": "user",
                                                       "content": _user_text(inputs)}]},
        lambda status, data: status == 200 and data["loom"]["status"] == "finished"),
    "OpenAI responses": (
        "/v1/responses", lambda inputs: {"model": "seed", "input": _user_text(inputs)},
        lambda status, data: status == 200 and data["status"] == "completed"),
    "A2A SendMessage": (
        "/a2a/seed/", _a2a_message,
        lambda status, data: status == 200
        and data["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"),
}
PLAIN = "HTTP API (loom serve)"


async def through_api(url: str, count: int, inputs: dict[str, Any],
                      door: str = PLAIN) -> dict[str, Any]:
    path, body, finished = DOORS[door]
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits,
                                 headers={"A2A-Version": "1.0"}) as client:

        async def one() -> tuple[float, bool]:
            started = time.perf_counter()
            try:
                response = await client.post(path, json=body(inputs))
                ok = bool(finished(response.status_code, response.json()))
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                ok = False
            return time.perf_counter() - started, ok

        began = time.perf_counter()
        done = await asyncio.gather(*(one() for _ in range(count)))
        wall = time.perf_counter() - began
    return summary(done, wall)


async def through_python(llm_url: str, count: int, inputs: dict[str, Any],
                         traced: bool = False) -> dict[str, Any]:
    with loom.Runtime(tools=common.tool_registry("sync")) as runtime:
        flow = runtime.load(common.config_text("seed_marketing.json", llm_url))

        async def one() -> tuple[float, bool]:
            started = time.perf_counter()
            # traced: the events the server keeps of each run (LLM answers then stream)
            listeners = [EventLog("bench", 0)] if traced else []
            result = await runtime.arun(flow, inputs, listeners=listeners)
            return time.perf_counter() - started, result.status == "finished"

        await one()  # warm-up, as the server's first run warms it
        began = time.perf_counter()
        done = await asyncio.gather(*(one() for _ in range(count)))
        wall = time.perf_counter() - began
    return summary(done, wall)


def summary(done: list[tuple[float, bool]], wall: float) -> dict[str, Any]:
    latencies = [seconds for seconds, _ in done]
    return {"runs": len(done), "wall": wall, "throughput": len(done) / wall,
            "p50": statistics.median(latencies), "p99": percentile(latencies, 0.99),
            "errors": sum(1 for _, ok in done if not ok)}


async def soak(url: str, total: int, wave: int, inputs: dict[str, Any]) -> int:
    errors = 0
    left = total
    while left > 0:
        size = min(wave, left)
        errors += (await through_api(url, size, inputs))["errors"]
        left -= size
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 runs, a soak of 200")
    parser.add_argument("--runs", type=int, default=200, help="runs at once (a)")
    parser.add_argument("--soak", type=int, default=10_000, help="runs between RSS readings")
    args = parser.parse_args(argv)
    runs, soaked = (20, 200) if args.quick else (args.runs, args.soak)
    inputs = common.scenario("a_seed")["inputs"]
    with FakeLlmServer(latency=common.llm_latency(), record=False) as llm, \
            tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), llm.url)
        try:
            for door in DOORS:  # warm-up
                asyncio.run(through_api(server.url, 5, inputs, door))
            doors = {door: asyncio.run(through_api(server.url, runs, inputs, door))
                     for door in DOORS}
            python = asyncio.run(through_python(llm.url, runs, inputs))
            traced = asyncio.run(through_python(llm.url, runs, inputs, traced=True))
            before = rss_mb(server.process.pid)
            soak_started = time.perf_counter()
            soak_errors = asyncio.run(soak(server.url, soaked, runs, inputs))
            soak_wall = time.perf_counter() - soak_started
            after = rss_mb(server.process.pid)
        finally:
            server.close()
    api = doors[PLAIN]
    rows = [
        [label, r["runs"], f"{r['wall']:.2f} s", f"{r['throughput']:.1f} runs/s",
         f"{r['p50'] * 1000:.0f} ms", f"{r['p99'] * 1000:.0f} ms", r["errors"]]
        for label, r in (*doors.items(), ("Python API (one process)", python),
                         ("Python API, events kept as the server does", traced))
    ]
    common.print_table(
        f"(a) {runs} seed-flow runs at once", ["through", "runs", "wall", "throughput", "p50",
                                               "p99", "errors"], rows,
        caption=f"API / Python throughput: {api['throughput'] / python['throughput']:.2f} "
        f"(/ Python with events: {api['throughput'] / traced['throughput']:.2f}); "
        f"LLM latency {common.llm_latency():g} s (FakeLlmServer), 4 tools of 0.2 s in parallel",
    )
    common.print_table(
        f"(b) server RSS around {soaked} more runs ({runs} at a time)",
        ["RSS before", "RSS after", "growth", "runs/s", "errors"],
        [[f"{before:.1f} MB", f"{after:.1f} MB", f"{after - before:+.1f} MB",
          f"{soaked / soak_wall:.1f}", soak_errors]],
    )
    failed = any(r["errors"] for r in (*doors.values(), python, traced)) or soak_errors
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
