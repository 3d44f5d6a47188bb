"""loom vs WayFlow on the shared benchmark configs, in one run, one table.

    .venv/bin/python bench/runtime.py [--quick]

Scenarios (see /work/shared/bench/README.md and configs/manifest.json):

(a) seed flow: wall time per run vs the 0.3 s critical path, through ``arun``
    (target <= 1.05x) and through the blocking ``Runtime.run`` (target <= 1.03x);
(b) ParallelFlowNode fan-out K = 4/16/64/256, sync and async 0.1 s tools (target
    K=256 within 1.2x of one branch), beside the platform's floor for the sync case:
    256 bare sleeps on loom's threads and through ``run_in_executor``;
(c) per-node overhead on linear_50/linear_500: loom with thread-pool sync tools,
    inline sync tools, async tools, vs WayFlow (target 10x less than WayFlow);
(d) MapNode / ParallelMapNode over 1,000 and 10,000 items (time per item);
(e) peak RSS of 1,000 concurrent seed runs in loom (fresh subprocess) vs WayFlow's
    100 concurrent runs (target < 300 MB);
(f) the cost of tracing: per-node time on linear_500 with no listener, a trace file
    and OpenTelemetry, as ratios (bench/tracing.py's table, printed after this one).

WayFlow is driven only through bench/wayflow_side.py; timing, the fake LLM server
and the table come from bench/common.py. Both runtimes talk to the same fake LLM
server (in its own process, at the configs' URL). loom's outputs are checked
against the manifest's expected outputs; a wrong output aborts the run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import wayflow_side  # noqa: E402

import loom  # noqa: E402

FANOUT_KS = (4, 16, 64, 256)
FANOUT_REPEAT = 9
LINEAR_SIZES = (50, 500)
MAP_KINDS = (
    ("map", "MapNode", "map_1000.json"),
    ("parallel_map", "ParallelMapNode", "parallel_map_1000.json"),
)


class LoomCheckError(AssertionError):
    """loom produced a wrong result: the benchmark stops."""


# --------------------------------------------------------------------------- loom driving


def inline_registry() -> dict[str, Callable[..., Any]]:
    """The sync tools, each wrapped in a fresh function marked ``loom.inline``."""
    out = {}
    for name, fn in common.sync_tool_registry().items():
        wrapper = functools.wraps(fn)(lambda *a, _fn=fn, **kw: _fn(*a, **kw))
        out[name] = loom.inline(wrapper)
    return out


def registry(mode: str) -> dict[str, Callable[..., Any]]:
    if mode == "inline":
        return inline_registry()
    return dict(common.tool_registry(mode))


def checker(expected: dict[str, Any], label: str, seed_message: bool = False):
    def check(result: Any) -> None:
        if result.status != "finished":
            raise LoomCheckError(f"loom {label}: run {result.status}: {result.error}")
        for key, value in expected.items():
            got = result.outputs.get(key)
            if got != value:
                raise LoomCheckError(
                    f"loom {label}: output {key!r} = {got!r:.200}, expected {value!r:.200}"
                )
        if seed_message:
            msgs = [m for m in result.messages if m.get("role") == "assistant"]
            if not msgs or "You are a marketing expert" not in str(msgs[-1].get("content")):
                raise LoomCheckError(f"loom {label}: unexpected last message {msgs[-1:]!r:.200}")

    return check


def loom_time(
    config: str,
    inputs: dict[str, Any],
    mode: str,
    llm_url: str,
    repeat: int,
    warmup: int = 1,
    check: Callable[[Any], None] | None = None,
    **runtime_kw: Any,
) -> common.Timing:
    """Median-able wall times of ``arun`` (one event loop, one Runtime, flow loaded once)."""

    async def main() -> common.Timing:
        rt = loom.Runtime(tools=registry(mode), llm={"url": llm_url}, **runtime_kw)
        try:
            flow = rt.load(common.config_path(config))
            timing = common.Timing()
            for i in range(warmup + repeat):
                start = time.perf_counter()
                result = await rt.arun(flow, inputs)
                elapsed = time.perf_counter() - start
                if check is not None:
                    check(result)
                (timing.warmup if i < warmup else timing.samples).append(elapsed)
            return timing
        finally:
            from loom.llm import aclose_shared_http_client

            await aclose_shared_http_client()
            rt.close()

    return asyncio.run(main())


def loom_time_sync(
    config: str,
    inputs: dict[str, Any],
    llm_url: str,
    repeat: int,
    warmup: int = 1,
    check: Callable[[Any], None] | None = None,
) -> common.Timing:
    """Wall times of the blocking ``Runtime.run`` (what a script calls), flow loaded once."""
    with loom.Runtime(tools=registry("sync"), llm={"url": llm_url}) as rt:
        flow = rt.load(common.config_path(config))
        return common.time_runs(lambda: rt.run(flow, inputs), repeat, warmup, check)


def seed_floor(llm_url: str, repeat: int) -> float:
    """Median wall time of the seed's critical path with no engine: four parallel
    ``time.sleep(0.2)`` on loom's threads, then one chat request with bare httpx."""
    import httpx

    from loom.runtime.threads import ToolThreads

    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}

    async def main() -> float:
        threads = ToolThreads(4)
        samples = []
        async with httpx.AsyncClient() as client:
            for i in range(repeat + 1):  # the first round opens the connection: not counted
                start = time.perf_counter()
                await asyncio.gather(*(threads.submit(time.sleep, 0.2) for _ in range(4)))
                response = await client.post(llm_url + "/v1/chat/completions", json=body)
                response.raise_for_status()
                if i:
                    samples.append(time.perf_counter() - start)
        threads.shutdown()
        return common.median(samples)

    return asyncio.run(main())


def thread_floor(k: int, repeat: int) -> dict[str, float]:
    """Median wall time of ``k`` parallel ``time.sleep(0.1)`` calls with no engine at all:
    on loom's worker threads, and through ``loop.run_in_executor`` on a warm pool."""
    from concurrent.futures import ThreadPoolExecutor

    from loom.runtime.threads import ToolThreads

    async def main() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        threads, pool = ToolThreads(k), ThreadPoolExecutor(k)
        ways: dict[str, Callable[[], Any]] = {
            "loom_threads": lambda: threads.submit(time.sleep, 0.1),
            "run_in_executor": lambda: loop.run_in_executor(pool, time.sleep, 0.1),
        }
        samples: dict[str, list[float]] = {name: [] for name in ways}
        for i in range(repeat + 1):  # the first round starts the threads: not counted
            for name, call in ways.items():
                start = time.perf_counter()
                await asyncio.gather(*(call() for _ in range(k)))
                if i:
                    samples[name].append(time.perf_counter() - start)
        threads.shutdown()
        pool.shutdown()
        return {name: common.median(times) for name, times in samples.items()}

    return asyncio.run(main())


# --------------------------------------------------------------------------- (e) RSS child


def rss_child(n: int, llm_url: str) -> dict[str, Any]:
    sc = common.scenario("a_seed")

    async def main() -> dict[str, Any]:
        rt = loom.Runtime(
            tools=common.sync_tool_registry(),
            llm={"url": llm_url},
            max_concurrency=max(1024, 8 * n),
            tool_threads=256,
        )
        flow = rt.load(common.config_path(sc["config"]))
        before = common.self_peak_rss_mb()
        start = time.perf_counter()
        results = await asyncio.gather(*(rt.arun(flow, sc["inputs"]) for _ in range(n)))
        wall = time.perf_counter() - start
        from loom.llm import aclose_shared_http_client

        await aclose_shared_http_client()
        rt.close()
        ok = sum(r.status == "finished" for r in results)
        return {"n": n, "ok": ok, "wall_s": wall, "rss_after_load_mb": before}

    out = asyncio.run(main())
    out["ru_maxrss_mb"] = common.maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return out


def loom_rss(n: int, llm_url: str) -> dict[str, Any]:
    argv = [sys.executable, os.path.abspath(__file__), "--_rss", str(n), "--_llm", llm_url]
    child = common.run_child(argv, timeout=120)
    payload = child.last_json()
    if child.timed_out or child.returncode != 0 or not isinstance(payload, dict):
        raise LoomCheckError(f"loom RSS child failed: {child.stderr.strip()[-800:]}")
    if payload["ok"] != n:
        raise LoomCheckError(f"loom RSS child: only {payload['ok']}/{n} runs finished")
    return payload


# --------------------------------------------------------------------------- formatting


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def wf_median(entry: dict[str, Any] | None) -> float | None:
    return None if not entry else entry.get("median_s")


def wf_note(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "WayFlow not run"
    if entry.get("skipped"):
        return f"WayFlow skipped: {entry['skipped']}"
    if entry.get("ok") is False:
        return "WayFlow FAILED: " + str(entry.get("error", ""))[:60]
    return ""


def verdict(ok: bool) -> str:
    return "[green]PASS[/green]" if ok else "[red]MISS[/red]"


# --------------------------------------------------------------------------- main


def run(quick: bool) -> tuple[list[list[str]], str]:
    rows: list[list[str]] = []
    rep = 3 if quick else 5
    with common.llm_server() as llm:
        url = llm["url"]
        t0 = time.perf_counter()
        # (e) first: on Linux a child's ru_maxrss starts from its parent's peak at
        # fork, so both RSS children are spawned while this process is still small.
        lr = loom_rss(1000, url)
        wf_rss = wayflow_side.measure_rss(100, baseline=False, timeout=60)

        # (a) seed ---------------------------------------------------------------
        sc = common.scenario("a_seed")
        lt = loom_time(
            sc["config"], sc["inputs"], "sync", url, rep, check=checker({}, "seed", True)
        )
        wf = wayflow_side.measure_seed(repeat=2 if quick else 5)
        ideal = sc["ideal_s"]
        rows.append(
            [
                "(a) seed flow, per run, Runtime.arun",
                common.fmt_s(lt.median_s),
                common.fmt_s(wf_median(wf)),
                f"loom {ratio(lt.median_s, ideal)} / WF {ratio(wf_median(wf), ideal)} of 0.3 s",
                "≤ 1.05x",
                verdict(lt.median_s / ideal <= 1.05) + " " + wf_note(wf),
            ]
        )

        st = loom_time_sync(
            sc["config"], sc["inputs"], url, rep, check=checker({}, "seed (run)", True)
        )
        rows.append(
            [
                "(a) seed flow, per run, sync Runtime.run",
                common.fmt_s(st.median_s),
                "",
                f"loom {ratio(st.median_s, ideal)} of 0.3 s",
                "≤ 1.03x",
                verdict(st.median_s / ideal <= 1.03),
            ]
        )

        floor_s = seed_floor(url, rep)
        rows.append(
            [
                "(a) reference: the seed's critical path, no engine",
                common.fmt_s(floor_s),
                "",
                f"{ratio(floor_s, ideal)} of 0.3 s; loom run / this = {ratio(st.median_s, floor_s)}",
                "",
                "4 parallel time.sleep(0.2) on threads, then one bare httpx chat request",
            ]
        )

        # (b) fan-out ------------------------------------------------------------
        ks = FANOUT_KS
        wf_ks = (4, 16, 64) if quick else FANOUT_KS
        wf_fan = wayflow_side.measure_fanout(wf_ks, ("sync", "async"), repeat=2 if quick else 3)
        fan_rep = FANOUT_REPEAT  # a run takes 0.1 s: more samples, a steadier median
        for mode in ("sync", "async"):
            for k in ks:
                sc = common.scenario(f"b_fanout_{k}")
                lt = loom_time(
                    sc["config"],
                    sc["inputs"],
                    mode,
                    url,
                    fan_rep,
                    check=checker(sc["expected_outputs"], f"fan-out {k} {mode}"),
                )
                wfe = wf_fan.get(mode, {}).get(str(k))
                note = wf_note(wfe) if k in wf_ks else "WayFlow skipped (--quick: load ~15 s)"
                target = "≤ 1.2x" if k == 256 else ""
                ok = lt.median_s / sc["ideal_s"] <= 1.2
                rows.append(
                    [
                        f"(b) fan-out K={k} ({mode} tool)",
                        common.fmt_s(lt.median_s),
                        common.fmt_s(wf_median(wfe)),
                        f"loom {ratio(lt.median_s, sc['ideal_s'])} / "
                        f"WF {ratio(wf_median(wfe), sc['ideal_s'])} of 0.1 s",
                        target,
                        (verdict(ok) + " " if target else "") + note,
                    ]
                )

        floor = thread_floor(256, fan_rep)
        rows.append(
            [
                "(b) reference: 256 bare time.sleep(0.1), no engine",
                common.fmt_s(floor["loom_threads"]),
                "",
                f"loom's threads {ratio(floor['loom_threads'], 0.1)} / "
                f"run_in_executor {ratio(floor['run_in_executor'], 0.1)} of 0.1 s",
                "",
                "the platform's floor for the sync fan-out above",
            ]
        )

        # (c) per-node overhead --------------------------------------------------
        wf_lin = wayflow_side.measure_linear(LINEAR_SIZES, ("sync", "async"), repeat=rep)
        for n in LINEAR_SIZES:
            sc = common.scenario(f"c_linear_{n}")
            nodes = int(sc.get("n_nodes", n))
            wf_sync = wf_lin.get("sync", {}).get(str(n), {})
            wf_async = wf_lin.get("async", {}).get(str(n), {})
            for mode, label, wfe in (
                ("sync", "sync tool, thread pool", wf_sync),
                ("inline", "sync tool, loom.inline", wf_sync),
                ("async", "async def tool", wf_async),
            ):
                lt = loom_time(
                    sc["config"],
                    sc["inputs"],
                    mode,
                    url,
                    rep,
                    check=checker(sc["expected_outputs"], f"linear {n} {mode}"),
                )
                us = lt.median_s / nodes * 1e6
                wf_us = wfe.get("us_per_node")
                ok = wf_us is not None and wf_us / us >= 10
                rows.append(
                    [
                        f"(c) per node, linear {n} ({label})",
                        common.fmt_us(us),
                        common.fmt_us(wf_us) + (" (WF sync)" if mode == "inline" else ""),
                        f"WF / loom = {ratio(wf_us, us)}",
                        "≥ 10x",
                        verdict(ok) + " " + wf_note(wfe),
                    ]
                )

        # (d) map ----------------------------------------------------------------
        wf_map = wayflow_side.measure_map(1000, repeat=2 if quick else 3)
        big = 10_000
        wf_big: dict[str, Any] = {}
        if not quick:
            estimates = {
                k: v["median_s"] * big / 1000 for k, v in wf_map.items() if "median_s" in v
            }
            wf_big = wayflow_side.measure_map_large(big, budget_s=60.0, estimates_s=estimates)
        base = common.scenario("d_map_1000")
        items_1k = list(base["inputs"]["items"])
        expected_1k = list(base["expected_outputs"]["collected_doubled"])
        for kind, name, config in MAP_KINDS:
            per_item_1k = None
            for items in (1000, big):
                # 10,000 items: the manifest's 1,000-item pattern, extended
                if items == 1000:
                    inputs = {"items": items_1k}
                    expected = {"collected_doubled": expected_1k}
                else:
                    inputs = {
                        "items": [items_1k[i % 1000] + 1000 * (i // 1000) for i in range(items)]
                    }
                    expected = {"collected_doubled": [2 * x for x in inputs["items"]]}
                lt = loom_time(
                    config,
                    inputs,
                    "sync",
                    url,
                    rep if items == 1000 else 3,
                    check=checker(expected, f"{name} {items}"),
                )
                per_item = lt.median_s / items * 1e6
                if items == 1000:
                    per_item_1k = per_item
                    wfe = wf_map.get(kind)
                    note = wf_note(wfe)
                else:
                    wfe = wf_big.get(kind) if not quick else None
                    note = "WayFlow skipped (--quick)" if quick else wf_note(wfe)
                wf_s = wf_median(wfe)
                wf_item = None if wf_s is None else wf_s / items * 1e6
                lin = (
                    f"; loom per item x{per_item / per_item_1k:.2f} vs 1,000"
                    if items != 1000 and per_item_1k
                    else ""
                )
                rows.append(
                    [
                        f"(d) {name}, {items:,} items",
                        f"{common.fmt_s(lt.median_s)} ({per_item:.0f} µs/item)",
                        "—" if wf_s is None else f"{common.fmt_s(wf_s)} ({wf_item:.0f} µs/item)",
                        f"WF / loom = {ratio(wf_s, lt.median_s)}",
                        "linear",
                        (note + lin).strip("; "),
                    ]
                )

        # (e) RSS ----------------------------------------------------------------
        if wf_rss.get("ok") and wf_rss.get("peak_rss_mb"):
            wf_txt = f"{common.fmt_mb(wf_rss['peak_rss_mb'])} (100 runs, measured)"
        else:
            wf_txt = f"{common.README_WAYFLOW['rss_100']} (100 runs, README figure)"
        rows.append(
            [
                "(e) peak RSS, loom 1,000 / WF 100 concurrent seed runs",
                f"{common.fmt_mb(lr['ru_maxrss_mb'])}",
                wf_txt,
                f"loom 1,000 runs took {common.fmt_s(lr['wall_s'])}; "
                f"1 process, before runs {common.fmt_mb(lr['rss_after_load_mb'])}",
                "< 300 MB",
                verdict(lr["ru_maxrss_mb"] < 300),
            ]
        )
        total = time.perf_counter() - t0
    caption = (
        f"loom vs wayflowcore {_wayflow_version()}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs; medians of {rep} runs ({FANOUT_REPEAT} for fan-out) after 1 warm-up (WayFlow: its own repeats); "
        f"LLM server: {llm['kind']} at {llm['url']}"
        + (f" ({llm['latency_s']} s)" if llm.get("latency_s") is not None else "")
        + f"; {'--quick; ' if quick else ''}measured in {total:.0f} s"
    )
    return rows, caption


def _wayflow_version() -> str:
    try:
        return wayflow_side.wayflow_version()
    except Exception:  # not installed: its rows say so, the table still prints
        return "(not installed)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/runtime.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="skip WayFlow's slow cases (~2 min)")
    parser.add_argument("--_rss", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_llm", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._rss is not None:
        print(json.dumps(rss_child(args._rss, args._llm)), flush=True)
        return 0
    rows, caption = run(args.quick)
    common.print_table(
        "loom vs WayFlow (same run, same configs)",
        ["scenario", "loom", "WayFlow", "ratio", "target", "check / notes"],
        rows,
        caption=caption,
    )
    # The cost of watching a run (no listener / trace file / OpenTelemetry): bench/tracing.py.
    import tracing

    tracing.print_tracing_table(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
