"""Memory of a long-lived Runtime: RSS after 1,000 and 10,000 distinct flows.

    .venv/bin/python bench/memory.py [--flows 10000] [--batch 100] [--same-text]

One Runtime (in a fresh subprocess, so nothing else is counted) runs the seed
flow (configs/seed_marketing.json) again and again, each time as new JSON text
with another flow name, the way a server that loads a flow per request would.
Its tools answer at once (the seed tools' results, without their sleeps) and the
fake LLM server (its own process) answers with no latency, so the run measures
what the Runtime keeps, not waiting. Runs go ``--batch`` at a time through
``arun`` on one event loop. After 1,000 and after every tenth of the total, the
child collects garbage and reads its current RSS (``/proc/self/statm``; the
peak RSS where /proc is missing). Target: growth from 1,000 to 10,000 flows
under 30 MB. ``--same-text`` runs one text every time instead.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

import loom  # noqa: E402

SEED = "seed_marketing.json"
NAME = '"name": "marketing_message_flow"'
TARGET_MB = 30.0
CHECKPOINT = 1000


def fast_tools() -> dict[str, Any]:
    """The seed flow's tools, returning what configs/tools.py returns, at once."""
    return {
        "get_user_information": lambda username: {
            "name": username.title(), "birthday": "1990-05-01"
        },
        "get_current_time": lambda: "2025-05-01T09:30:00",
        "get_user_last_purchases": lambda username: [{"item": "tent"}, {"item": "lamp"}],
        "get_items_on_sale": lambda: [{"item": "sleeping bag"}, {"item": "kayak"}],
    }


def rss_mb() -> float:
    """Current RSS (MB) on Linux; the peak elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except OSError:
        return common.self_peak_rss_mb()


def child(total: int, batch: int, url: str, same_text: bool) -> list[dict[str, Any]]:
    base = common.config_path(SEED).read_text()
    assert NAME in base, f"{SEED} no longer names its flow marketing_message_flow"
    marks = sorted({CHECKPOINT, *range(total // 10, total + 1, max(1, total // 10))})
    marks = [m for m in marks if 0 < m <= total]

    def text(i: int) -> str:
        return base if same_text else base.replace(NAME, f'"name": "marketing_message_flow_{i}"')

    def sample(done: int, start: float) -> dict[str, Any]:
        gc.collect()
        return {"flows": done, "rss_mb": rss_mb(), "elapsed_s": time.perf_counter() - start}

    async def main() -> list[dict[str, Any]]:
        rt = loom.Runtime(tools=fast_tools(), llm={"url": url}, use_env=False)
        try:
            first = await rt.arun(text(-1), {"username": "alice"})  # warm: imports, client
            if first.status != "finished":
                raise RuntimeError(f"the seed flow did not finish: {first.error}")
            start = time.perf_counter()
            samples = [sample(0, start)]
            done = 0
            for mark in marks:
                while done < mark:
                    n = min(batch, mark - done)
                    results = await asyncio.gather(
                        *(rt.arun(text(done + i), {"username": "alice"}) for i in range(n))
                    )
                    bad = [r for r in results if r.status != "finished"]
                    if bad:
                        raise RuntimeError(f"{len(bad)} runs did not finish: {bad[0].error}")
                    done += n
                samples.append(sample(done, start))
            return samples
        finally:
            from loom.llm import aclose_shared_http_client

            await aclose_shared_http_client()
            rt.close()

    return asyncio.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(total: int, batch: int, same_text: bool) -> tuple[list[dict[str, Any]], str]:
    url = f"http://127.0.0.1:{free_port()}"
    with common.llm_server(url=url, latency=0.0) as llm:
        argv = [sys.executable, os.path.abspath(__file__), "--_child", "--_llm", llm["url"],
                "--flows", str(total), "--batch", str(batch)]
        if same_text:
            argv.append("--same-text")
        result = common.run_child(argv, timeout=3600)
    samples = result.last_json()
    if result.returncode != 0 or not isinstance(samples, list):
        raise RuntimeError(f"the memory child failed: {result.stderr.strip()[-1500:]}")
    return samples, llm["kind"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/memory.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--flows", type=int, default=10_000, help="flows to run (10,000)")
    parser.add_argument("--batch", type=int, default=100, help="runs in flight at once (100)")
    parser.add_argument("--same-text", action="store_true", help="run one text every time")
    parser.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_llm", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        print(json.dumps(child(args.flows, args.batch, args._llm, args.same_text)), flush=True)
        return 0
    samples, kind = measure(args.flows, args.batch, args.same_text)
    at = {s["flows"]: s for s in samples}
    ref = at.get(CHECKPOINT)
    rows = []
    for s in samples:
        growth = "" if ref is None or s["flows"] < CHECKPOINT else (
            f"{s['rss_mb'] - ref['rss_mb']:+.1f} MB"
        )
        rows.append([f"{s['flows']:,}", f"{s['rss_mb']:.1f} MB", growth,
                     common.fmt_s(s["elapsed_s"])])
    last = samples[-1]
    verdict = ""
    if ref is not None and last["flows"] > CHECKPOINT:
        growth_mb = last["rss_mb"] - ref["rss_mb"]
        per_flow = growth_mb * 1024 / (last["flows"] - CHECKPOINT)
        ok = growth_mb < TARGET_MB
        verdict = (f"; growth {CHECKPOINT:,} -> {last['flows']:,}: {growth_mb:+.1f} MB "
                   f"({per_flow:.2f} KB per flow), target < {TARGET_MB:.0f} MB: "
                   + ("[green]PASS[/green]" if ok else "[red]MISS[/red]"))
    caption = (f"{'one text' if args.same_text else 'distinct flow texts'}, {args.batch} runs "
               f"in flight, one Runtime, Python {sys.version.split()[0]}; LLM server: {kind}, "
               f"no latency" + verdict)
    common.print_table("RSS of one Runtime running the seed flow",
                       ["flows run", "RSS", "since 1,000", "time"], rows, caption=caption)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
