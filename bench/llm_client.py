"""loom's own cost per LLM call, over a bare httpx request to the same server.

    .venv/bin/python bench/llm_client.py [--quick]

One fake LLM server (``loom.testing.llm_server``, no added latency, in its own
process so that it does not share the GIL with what is measured) answers:

* bare httpx: one warm ``httpx.AsyncClient`` posting the same chat request
  (the server's own latency on loopback; target < 5 ms);
* bare httpx, a new event loop and connection per call: what a sync wrapper
  that starts a loop per call pays (for reference);
* ``LlmClient.generate`` on one event loop (the shared pooled client);
* a one-LlmNode flow through ``Runtime.arun`` and through sync ``Runtime.run``.

Then the same ways against a real server, llama.cpp's with SmolLM2-135M
(``loom.local``, when ``./scripts/setup --local`` installed it; ``--no-local``
skips it): one token per answer, deterministic, the prompt cached by the
server, so each call does the same work; fewer samples, as each takes tens of
milliseconds and the difference is noisier.

Each loom row shows its median and its overhead over the bare median (target:
under 1 ms). The ways are measured interleaved, so that a burst of load on
the machine hits every row alike.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import httpx  # noqa: E402

import loom  # noqa: E402
from loom.llm import LlmClient, LlmEndpoint, aclose_shared_http_client  # noqa: E402
from loom.llm.http import tls_context  # noqa: E402
from loom.local import MODEL_NAME, LocalLlm, available  # noqa: E402
from loom.spec import ControlFlowEdge, EndNode, Flow, LlmNode, StartNode  # noqa: E402
from loom.spec.llms import OpenAiCompatibleConfig  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say hi"}]
ONE_TOKEN = {"max_tokens": 1, "temperature": 0.0, "seed": 7}  # the real server's answers
SERVER_TARGET_S = 0.005
OVERHEAD_TARGET_S = 0.001


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_llm_node_flow(url: str, model: str, params: dict[str, Any]) -> Flow:
    llm = OpenAiCompatibleConfig(name="llm", url=url, model_id=model,
                                 default_generation_parameters=params or None)
    start = StartNode(name="start")
    ask = LlmNode(name="ask", llm_config=llm, prompt_template="Say hi")
    end = EndNode(name="end", inputs=list(ask.outputs or []))
    chain = [start, ask, end]
    return Flow(
        name="one_llm_node",
        start_node=start,
        nodes=chain,
        control_flow_connections=[
            ControlFlowEdge(name=f"e{i}", from_node=a, to_node=b)
            for i, (a, b) in enumerate(zip(chain, chain[1:], strict=False))
        ],
    )


def measure(url: str, rounds: int, per_round: int, model: str = "fake-model",
            params: dict[str, Any] | None = None) -> dict[str, list[float]]:
    """Seconds per call for each way: ``rounds`` x ``per_round`` samples each, the
    async ways taking turns call by call, the sync ones between them."""
    params = dict(params or {})
    chat_url = url + "/chat/completions"
    body = {**params, "model": model, "messages": MESSAGES}
    endpoint = LlmEndpoint(url=url, model=model, generation_params=params)
    runtime = loom.Runtime(use_env=False)
    flow = runtime.load(loom.dumps(one_llm_node_flow(url, model, params)))
    tls = tls_context()
    samples: dict[str, list[float]] = {
        name: [] for name in ("bare", "bare_new_loop", "client", "arun", "run")
    }

    async def bare_once() -> None:
        async with httpx.AsyncClient(verify=tls) as fresh:
            (await fresh.post(chat_url, json=body)).raise_for_status()

    async def one_round(counted: bool) -> None:
        async with httpx.AsyncClient() as bare:
            client = LlmClient(endpoint)

            async def post() -> None:
                (await bare.post(chat_url, json=body)).raise_for_status()

            async def generate() -> None:
                await client.generate(MESSAGES)

            async def arun() -> None:
                result = await runtime.arun(flow)
                assert result.status == "finished", result.error

            ways: dict[str, Callable[[], Awaitable[Any]]] = {
                "bare": post, "client": generate, "arun": arun
            }
            for call in ways.values():  # warm: connections open
                await call()
            for _ in range(per_round if counted else 0):
                for name, call in ways.items():
                    start = time.perf_counter()
                    await call()
                    samples[name].append(time.perf_counter() - start)
            await aclose_shared_http_client()

    def sync_round() -> None:
        for _ in range(per_round):
            start = time.perf_counter()
            result = runtime.run(flow)
            samples["run"].append(time.perf_counter() - start)
            assert result.status == "finished", result.error

    runtime.run(flow)  # warm-up: imports, compiled plan, the sync facade's loop
    for index in range(rounds + 1):
        asyncio.run(one_round(counted=index > 0))
        if index:
            sync_round()
    runtime.close()
    for _ in range(rounds * per_round // 4):  # apart: its connections would load the rounds
        start = time.perf_counter()
        asyncio.run(bare_once())
        samples["bare_new_loop"].append(time.perf_counter() - start)
    return samples


def rows_for(samples: dict[str, list[float]], server_target: bool = True) -> list[list[str]]:
    bare = common.median(samples["bare"])

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.2f} ms"

    def row(label: str, name: str, target: str = "", limit: float | None = None) -> list[str]:
        median = common.median(samples[name])
        over = median - bare
        check = "" if limit is None else ("PASS" if over < limit else "MISS")
        return [label, ms(median), f"{over * 1000:+.2f} ms", target, check]

    server_ok = "PASS" if bare < SERVER_TARGET_S else "MISS"
    return [
        ["bare httpx, warm AsyncClient (the server's latency)", ms(bare), "—",
         "< 5 ms" if server_target else "", server_ok if server_target else ""],
        row("bare httpx, new loop + connection per call (CAs loaded once)", "bare_new_loop"),
        row("LlmClient.generate (async, shared client)", "client", "< 1 ms", OVERHEAD_TARGET_S),
        row("one-LlmNode flow, Runtime.arun", "arun", "< 1 ms", OVERHEAD_TARGET_S),
        row("one-LlmNode flow, sync Runtime.run", "run", "< 1 ms", OVERHEAD_TARGET_S),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/llm_client.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer samples (~5 s)")
    parser.add_argument("--no-local", action="store_true",
                        help="leave out the real local server (llama.cpp with SmolLM2-135M)")
    args = parser.parse_args(argv)
    rounds, per_round = (20, 5) if args.quick else (60, 10)
    port = free_port()
    with common.llm_server(url=f"http://127.0.0.1:{port}", latency=0.0) as llm:
        started = time.perf_counter()
        samples = measure(llm["url"] + "/v1", rounds, per_round)
        total = time.perf_counter() - started
    common.print_table(
        "loom's cost per LLM call (same server, same request)",
        ["call", "median", "over bare httpx", "target", "check"],
        rows_for(samples),
        caption=(
            f"{llm['kind']} on 127.0.0.1 (own process, no added latency); medians of "
            f"{rounds * per_round} calls each, interleaved in {rounds} rounds (new-loop "
            f"row: {rounds * per_round // 4} calls after them); "
            f"Python {sys.version.split()[0]}, {__import__('os').cpu_count()} CPUs; "
            f"measured in {total:.0f} s"
        ),
    )
    if args.no_local:
        return 0
    if not available():
        print("\nno real server: the local model is not installed (./scripts/setup --local)")
        return 0
    local_rounds, local_per_round = (4, 3) if args.quick else (10, 5)
    with LocalLlm() as real:
        started = time.perf_counter()
        samples = measure(real.url, local_rounds, local_per_round, MODEL_NAME, ONE_TOKEN)
        total = time.perf_counter() - started
        server = real.describe()
    common.print_table(
        "loom's cost per LLM call against a real server (same server, same request)",
        ["call", "median", "over bare httpx", "target", "check"],
        rows_for(samples, server_target=False),
        caption=(
            f"{server}; one token per answer, temperature 0; medians of "
            f"{local_rounds * local_per_round} calls each, interleaved; measured in "
            f"{total:.0f} s. The server's own time varies by milliseconds from call to "
            "call here, so small differences are noise"
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
