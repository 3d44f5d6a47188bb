"""WayFlow (wayflowcore 26.3.1) half of the loom-vs-WayFlow benchmark.

WayFlow is used only as an oracle for measurement: it loads the shared Agent
Spec configs and runs them; nothing here is copied into loom.

How WayFlow is driven (the only API used)::

    from wayflowcore.agentspec import AgentSpecLoader
    flow = AgentSpecLoader(tool_registry={"tool_name": callable, ...}).load_json(json_text)
    conversation = flow.start_conversation(inputs={...})
    status = conversation.execute()            # sync: anyio.run() of execute_async()
    status.output_values                        # FinishedStatus -> the EndNode outputs
    conversation.get_last_message().content     # e.g. the OutputMessageNode's message

Each ``measure_*`` function returns a plain JSON-able dict of figures (seconds
unless the key says otherwise). ``python bench/wayflow_side.py`` prints them
next to the README's WayFlow figures; ``--help`` lists the flags.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

if __package__:
    from . import common
else:  # run as a script: bench/ is on sys.path
    import common

FANOUT_KS = (4, 16, 64, 256)
LINEAR_SIZES = (50, 500)
MAP_KINDS = ("map", "parallel_map")
TOOL_MODES = ("sync", "async")


def _quiet() -> None:
    """Silence WayFlow's per-load "No api_key provided" warning and similar noise."""
    logging.getLogger("wayflowcore").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"wayflowcore(\..*)?")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def wayflow_version() -> str:
    from importlib.metadata import version

    return version("wayflowcore")


# --------------------------------------------------------------------------- driving WayFlow


def load_flow(config: str, tools: str = "sync", llm_url: str | None = None) -> tuple[Any, float]:
    """Load ``configs/<config>`` into a WayFlow ``Flow``; return ``(flow, load_seconds)``.

    ``tools`` picks the registry: ``"sync"`` = the functions of configs/tools.py,
    ``"async"`` = their ``async def`` twins (common.async_tool_registry()).
    The load time covers ``AgentSpecLoader(...).load_json(text)`` (parsing included,
    file reading excluded).
    """
    _quiet()
    from wayflowcore.agentspec import AgentSpecLoader

    text = common.config_text(config, llm_url=llm_url)
    registry = common.tool_registry(tools)
    start = time.perf_counter()
    flow = AgentSpecLoader(tool_registry=registry).load_json(text)
    return flow, time.perf_counter() - start


@dataclass
class RunResult:
    status: Any
    conversation: Any

    @property
    def finished(self) -> bool:
        from wayflowcore.executors.executionstatus import FinishedStatus

        return isinstance(self.status, FinishedStatus)

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(getattr(self.status, "output_values", None) or {})

    @property
    def last_message(self) -> str | None:
        message = self.conversation.get_last_message()
        return None if message is None else message.content


def run_flow(flow: Any, inputs: dict[str, Any]) -> RunResult:
    """One run = ``start_conversation(inputs)`` + ``execute()`` (what the timings cover)."""
    conversation = flow.start_conversation(inputs=dict(inputs))
    status = conversation.execute()
    return RunResult(status, conversation)


class CheckError(AssertionError):
    pass


def _checker(expected: dict[str, Any], expected_message: str | None = None):
    def check(result: RunResult) -> None:
        if not result.finished:
            raise CheckError(f"run did not finish: {type(result.status).__name__}")
        outputs = result.outputs
        for key, value in expected.items():
            if outputs.get(key) != value:
                raise CheckError(
                    f"output {key!r} = {outputs.get(key)!r:.200}, expected {value!r:.200}"
                )
        if expected_message is not None and not result.last_message:
            raise CheckError("no last message")

    return check


def _seed_message_check(message: str | None, expected: str | None) -> str:
    """How the seed flow's final message compares with the manifest's expectation."""
    if not message:
        return "no message"
    if expected is None or message == expected:
        return "ok"
    if message.startswith("ECHO:"):
        return f"differs: {message[:60]!r}"
    # loom's fake server answers "fake answer to: " + prompt[:80]; the manifest was
    # made with a server answering "ECHO:" + whitespace-collapsed prompt[:80].
    if "You are a marketing expert" in message:
        return "ok (server's reply format)"
    return f"unexpected: {message[:60]!r}"


def _error(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}


# --------------------------------------------------------------------------- (a) seed flow


def measure_seed(repeat: int = 5, warmup: int = 1, llm_url: str | None = None) -> dict[str, Any]:
    """(a) Seed marketing flow (4 parallel 0.2 s tools + one LLM call): wall time per run.

    Needs the fake LLM server to be answering (see ``common.llm_server``).
    Returns ``{"median_s", "min_s", "max_s", "n", "samples_s", "warmup_s",
    "load_s", "ideal_s", "ok", "message", "message_check"}``.
    """
    sc = common.scenario("a_seed")
    try:
        flow, load_s = load_flow(sc["config"], "sync", llm_url)
        last: list[RunResult] = []

        def check(result: RunResult) -> None:
            _checker(sc.get("expected_outputs", {}), expected_message="")(result)
            last[:] = [result]

        timing = common.time_runs(lambda: run_flow(flow, sc["inputs"]), repeat, warmup, check)
    except Exception as exc:  # noqa: BLE001 - report, keep the other scenarios going
        return _error(exc)
    message = last[0].last_message if last else None
    return {
        **timing.as_dict(),
        "load_s": load_s,
        "ideal_s": sc.get("ideal_s"),
        "ok": True,
        "message": message,
        "message_check": _seed_message_check(message, sc.get("expected_last_agent_message")),
    }


# --------------------------------------------------------------------------- (b) fan-out


def measure_fanout(
    ks: tuple[int, ...] = FANOUT_KS,
    tools: tuple[str, ...] = TOOL_MODES,
    repeat: int = 3,
    warmup: int = 1,
) -> dict[str, Any]:
    """(b) ParallelFlowNode fan-out of K subflows, each one 0.1 s ``sleep_100ms`` tool.

    Returns ``{"<mode>": {"<K>": {"median_s", ..., "load_s", "ideal_s", "ok"}}}``
    for mode in ``tools`` (``"sync"``: time.sleep tools run by WayFlow in anyio
    worker threads; ``"async"``: ``async def`` tools awaited on the event loop).
    """
    results: dict[str, Any] = {}
    for mode in tools:
        results[mode] = {}
        for k in ks:
            sc = common.scenario(f"b_fanout_{k}")
            try:
                flow, load_s = load_flow(sc["config"], mode)
                timing = common.time_runs(
                    lambda flow=flow, sc=sc: run_flow(flow, sc["inputs"]),
                    repeat,
                    warmup,
                    _checker(sc["expected_outputs"]),
                )
                results[mode][str(k)] = {
                    **timing.as_dict(),
                    "load_s": load_s,
                    "ideal_s": sc.get("ideal_s"),
                    "ok": True,
                }
            except Exception as exc:  # noqa: BLE001
                results[mode][str(k)] = _error(exc)
            finally:
                flow = None  # drop the big flows before loading the next one
    return results


# --------------------------------------------------------------------------- (c) per-node overhead


def measure_linear(
    sizes: tuple[int, ...] = LINEAR_SIZES,
    tools: tuple[str, ...] = TOOL_MODES,
    repeat: int = 5,
    warmup: int = 1,
) -> dict[str, Any]:
    """(c) Per-ToolNode overhead on linear flows of N ``inc`` ToolNodes (trivial tool).

    Returns ``{"<mode>": {"<N>": {"us_per_node", "median_s", ..., "load_s", "ok"}}}``
    where ``us_per_node = median run wall time / N * 1e6``.
    """
    results: dict[str, Any] = {}
    for mode in tools:
        results[mode] = {}
        for n in sizes:
            sc = common.scenario(f"c_linear_{n}")
            try:
                flow, load_s = load_flow(sc["config"], mode)
                timing = common.time_runs(
                    lambda flow=flow, sc=sc: run_flow(flow, sc["inputs"]),
                    repeat,
                    warmup,
                    _checker(sc["expected_outputs"]),
                )
                nodes = int(sc.get("n_nodes", n))
                results[mode][str(n)] = {
                    **timing.as_dict(),
                    "us_per_node": timing.median_s / nodes * 1e6,
                    "n_nodes": nodes,
                    "load_s": load_s,
                    "ok": True,
                }
            except Exception as exc:  # noqa: BLE001
                results[mode][str(n)] = _error(exc)
    return results


# --------------------------------------------------------------------------- (d) map


def _map_case(
    kind: str, items: int, repeat: int, warmup: int, mode: str = "sync"
) -> dict[str, Any]:
    sc = common.scenario("d_map_1000")
    config = sc["config"] if kind == "map" else f"{kind}_1000.json"
    inputs = {"items": list(range(items))}
    expected = {"collected_doubled": [2 * i for i in range(items)]}
    flow, load_s = load_flow(config, mode)
    timing = common.time_runs(lambda: run_flow(flow, inputs), repeat, warmup, _checker(expected))
    return {
        **timing.as_dict(),
        "items": items,
        "us_per_item": timing.median_s / items * 1e6,
        "load_s": load_s,
        "ok": True,
    }


def measure_map(
    items: int = 1000, kinds: tuple[str, ...] = MAP_KINDS, repeat: int = 3, warmup: int = 1
) -> dict[str, Any]:
    """(d) MapNode / ParallelMapNode over ``items`` integers (``trivial`` tool, x*2).

    Uses ``map_1000.json`` / ``parallel_map_1000.json`` (the item count is just the
    input list's length). Returns ``{"<kind>": {"median_s", ..., "us_per_item",
    "load_s", "ok"}}``.
    """
    results: dict[str, Any] = {}
    for kind in kinds:
        try:
            results[kind] = _map_case(kind, items, repeat, warmup)
        except Exception as exc:  # noqa: BLE001
            results[kind] = _error(exc)
    return results


def measure_map_large(
    items: int = 10_000,
    kinds: tuple[str, ...] = MAP_KINDS,
    budget_s: float = 90.0,
    estimates_s: dict[str, float] | None = None,
) -> dict[str, Any]:
    """(d') One run of each map kind over ``items`` items, each in its own process.

    If ``estimates_s[kind]`` (e.g. 10 x the 1,000-item median) exceeds ``budget_s``
    the case is not run: ``{"skipped": "too slow", "estimate_s"}``. A run that
    exceeds ``budget_s`` is killed: ``{"skipped": "too slow", "timeout_s"}``.
    Otherwise ``{"median_s" (1 run), "child_wall_s", "peak_rss_mb", "ok"}``.
    """
    results: dict[str, Any] = {}
    for kind in kinds:
        estimate = (estimates_s or {}).get(kind)
        if estimate is not None and estimate > budget_s:
            results[kind] = {"skipped": "too slow", "estimate_s": estimate, "budget_s": budget_s}
            continue
        spec = {"fn": "map", "kind": kind, "items": items}
        child = common.run_child(_child_argv(spec), timeout=budget_s)
        if child.timed_out:
            results[kind] = {"skipped": "too slow", "timeout_s": budget_s}
            continue
        payload = child.last_json()
        if child.returncode != 0 or not isinstance(payload, dict):
            results[kind] = {"ok": False, "error": child.stderr.strip()[-500:]}
            continue
        results[kind] = {**payload, "child_wall_s": child.wall_s, "peak_rss_mb": child.peak_rss_mb}
    return results


# --------------------------------------------------------------------------- load time


def measure_load(config: str = "linear_500.json", repeat: int = 3) -> dict[str, Any]:
    """Config load time: WayFlow ``AgentSpecLoader.load_json`` vs pyagentspec alone.

    Returns ``{"wayflow_s": median, "pyagentspec_s": median, "wayflow_samples_s",
    "pyagentspec_samples_s"}`` (each sample loads the JSON text from scratch).
    """
    _quiet()
    from pyagentspec.serialization import AgentSpecDeserializer

    text = common.config_text(config)
    wayflow = [load_flow(config, "sync")[1] for _ in range(repeat)]
    spec = []
    for _ in range(repeat):
        start = time.perf_counter()
        AgentSpecDeserializer().from_json(text)
        spec.append(time.perf_counter() - start)
    return {
        "config": config,
        "wayflow_s": common.median(wayflow),
        "pyagentspec_s": common.median(spec),
        "wayflow_samples_s": wayflow,
        "pyagentspec_samples_s": spec,
    }


# --------------------------------------------------------------------------- (e) memory


def measure_rss(
    concurrency: int = 100, baseline: bool = True, timeout: float = 300
) -> dict[str, Any]:
    """(e) Peak RSS of a fresh process running ``concurrency`` seed conversations at once.

    The child loads the seed flow once, then starts ``concurrency`` threads that
    each run one conversation (``start_conversation`` + ``execute``) after a
    barrier. Peak RSS = ``ru_maxrss`` of that child from ``os.wait4``. With
    ``baseline`` a second child does the same with 1 conversation (the cost of
    Python + wayflowcore + the loaded flow). Needs the fake LLM server.

    Returns ``{"concurrency", "peak_rss_mb", "rss_after_load_mb", "runs_wall_s",
    "n_finished", "baseline_peak_rss_mb", "ok"}``.
    """
    out: dict[str, Any] = {"concurrency": concurrency}
    child = common.run_child(
        _child_argv({"fn": "rss", "concurrency": concurrency}), timeout=timeout
    )
    payload = child.last_json()
    if child.timed_out or child.returncode != 0 or not isinstance(payload, dict):
        out.update(ok=False, error=("timeout" if child.timed_out else child.stderr.strip()[-500:]))
        return out
    out.update(payload)
    out["peak_rss_mb"] = child.peak_rss_mb
    out["ok"] = payload.get("n_finished") == concurrency
    if baseline:
        base = common.run_child(_child_argv({"fn": "rss", "concurrency": 1}), timeout=timeout)
        out["baseline_peak_rss_mb"] = base.peak_rss_mb if base.returncode == 0 else None
    return out


# --------------------------------------------------------------------------- children


def _child_argv(spec: dict[str, Any]) -> list[str]:
    return [sys.executable, os.path.abspath(__file__), "--_child", json.dumps(spec)]


def _child_main(spec: dict[str, Any]) -> dict[str, Any]:
    """Entry point of the measurement subprocesses; the result is printed as one JSON line."""
    _quiet()
    if spec["fn"] == "map":
        return _map_case(spec["kind"], int(spec["items"]), repeat=1, warmup=0)
    if spec["fn"] == "rss":
        n = int(spec["concurrency"])
        sc = common.scenario("f_rss_100_concurrent")
        flow, load_s = load_flow(sc["config"], "sync")
        rss_after_load = common.self_peak_rss_mb()
        barrier = threading.Barrier(n)
        results: list[RunResult | BaseException] = [RuntimeError("not run")] * n

        def worker(i: int) -> None:
            barrier.wait()
            try:
                results[i] = run_flow(flow, sc["inputs"])
            except BaseException as exc:  # noqa: BLE001
                results[i] = exc

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        finished = [r for r in results if isinstance(r, RunResult) and r.finished]
        errors = sorted(
            {f"{type(r).__name__}: {r}"[:200] for r in results if isinstance(r, BaseException)}
        )
        return {
            "load_s": load_s,
            "rss_after_load_mb": rss_after_load,
            "self_peak_rss_mb": common.self_peak_rss_mb(),
            "runs_wall_s": wall,
            "n_finished": len(finished),
            "errors": errors[:5],
        }
    raise ValueError(f"unknown child spec {spec!r}")


# --------------------------------------------------------------------------- all + table


def run_all(
    *,
    quick: bool = False,
    fanout_ks: tuple[int, ...] | None = None,
    tools: tuple[str, ...] = TOOL_MODES,
    map_large: bool = False,
    map_large_items: int = 10_000,
    map_large_budget_s: float = 90.0,
    rss: bool = True,
    rss_concurrency: int = 100,
    load: bool = True,
    only: set[str] | None = None,
) -> dict[str, Any]:
    """Run the selected WayFlow measurements (the fake LLM must be up for seed/rss).

    ``only`` restricts to a subset of ``{"seed", "fanout", "linear", "map", "load", "rss"}``.
    """

    def want(name: str) -> bool:
        return only is None or name in only

    r = 2 if quick else 5
    results: dict[str, Any] = {"wayflowcore": wayflow_version(), "python": sys.version.split()[0]}
    if want("seed"):
        results["seed"] = measure_seed(repeat=r)
    if want("fanout"):
        ks = fanout_ks or ((4, 16, 64) if quick else FANOUT_KS)
        results["fanout"] = measure_fanout(ks, tools, repeat=2 if quick else 3)
    if want("linear"):
        results["linear"] = measure_linear(LINEAR_SIZES, tools, repeat=r)
    if want("map"):
        results["map_1000"] = measure_map(1000, repeat=2 if quick else 3)
        if map_large:
            estimates = {
                k: v["median_s"] * map_large_items / 1000
                for k, v in results["map_1000"].items()
                if "median_s" in v
            }
            results["map_large"] = measure_map_large(
                map_large_items, budget_s=map_large_budget_s, estimates_s=estimates
            )
    if want("load") and load:
        results["load_500"] = measure_load("linear_500.json", repeat=2 if quick else 3)
    if want("rss") and rss:
        results["rss"] = measure_rss(rss_concurrency)
    return results


def table_rows(results: dict[str, Any], map_large_items: int = 10_000) -> list[list[str]]:
    """Rows ``[scenario, WayFlow measured, README WayFlow, ideal, check]``."""
    readme = common.README_WAYFLOW
    rows: list[list[str]] = []

    def status(entry: dict[str, Any]) -> str:
        if entry.get("skipped"):
            return f"skipped: {entry['skipped']}"
        if entry.get("ok") is False:
            return "FAIL " + str(entry.get("error", ""))[:60]
        return "ok"

    seed = results.get("seed")
    if seed:
        rows.append(
            [
                "(a) seed flow, per run",
                common.fmt_s(seed.get("median_s")),
                readme["seed"],
                common.fmt_s(seed.get("ideal_s")),
                status(seed)
                + (f"; msg {seed['message_check']}" if seed.get("message_check") else ""),
            ]
        )
    for mode, per_k in results.get("fanout", {}).items():
        label = "sync" if mode == "sync" else "async def"
        for k, entry in per_k.items():
            ref = readme.get(f"fanout_{k}", "") if mode == "sync" else ""
            rows.append(
                [
                    f"(b) fan-out K={k} ({label} tool)",
                    common.fmt_s(entry.get("median_s")),
                    ref,
                    common.fmt_s(entry.get("ideal_s")),
                    status(entry),
                ]
            )
    for k, entry in results.get("fanout", {}).get("sync", {}).items():
        if "load_s" in entry:
            rows.append(
                [
                    f"    load pfn_fanout_{k}.json",
                    common.fmt_s(entry["load_s"]),
                    readme.get(f"fanout_load_{k}", ""),
                    "",
                    "",
                ]
            )
    for mode, per_n in results.get("linear", {}).items():
        label = "sync" if mode == "sync" else "async def"
        for n, entry in per_n.items():
            key = f"linear_{n}" + ("" if mode == "sync" else "_async")
            rows.append(
                [
                    f"(c) per ToolNode, linear {n} ({label} tool)",
                    common.fmt_us(entry.get("us_per_node")),
                    readme.get(key, ""),
                    "",
                    status(entry),
                ]
            )
    for kind, entry in results.get("map_1000", {}).items():
        name = "MapNode" if kind == "map" else "ParallelMapNode"
        rows.append(
            [
                f"(d) {name}, 1,000 items",
                common.fmt_s(entry.get("median_s")),
                readme.get(f"{kind}_1000", ""),
                "",
                status(entry),
            ]
        )
    for kind, entry in results.get("map_large", {}).items():
        name = "MapNode" if kind == "map" else "ParallelMapNode"
        value = common.fmt_s(entry.get("median_s")) if "median_s" in entry else "—"
        note = status(entry)
        if "estimate_s" in entry:
            note += f" (est. {common.fmt_s(entry['estimate_s'])} > budget {common.fmt_s(entry['budget_s'])})"
        elif "timeout_s" in entry:
            note += f" (> {common.fmt_s(entry['timeout_s'])})"
        rows.append([f"(d) {name}, {map_large_items:,} items", value, "", "", note])
    load = results.get("load_500")
    if load:
        rows.append(
            [
                "load 500-node config: WayFlow / pyagentspec alone",
                f"{load['wayflow_s'] * 1000:.0f} / {load['pyagentspec_s'] * 1000:.0f} ms",
                f"{readme['load_500']} / {readme['load_500_pyagentspec']}",
                "",
                "",
            ]
        )
    rss = results.get("rss")
    if rss:
        n = rss.get("concurrency")
        extra = ""
        if rss.get("baseline_peak_rss_mb"):
            extra = f"; 1 run: {common.fmt_mb(rss['baseline_peak_rss_mb'])}"
        if rss.get("runs_wall_s") is not None:
            extra += f"; {n} runs took {common.fmt_s(rss['runs_wall_s'])}"
        rows.append(
            [
                f"(e) {n} concurrent seed runs, peak RSS",
                common.fmt_mb(rss.get("peak_rss_mb")),
                readme["rss_100"] if n == 100 else "",
                "",
                status(rss) + extra,
            ]
        )
    return rows


def print_results(
    results: dict[str, Any], llm: dict[str, Any] | None = None, map_large_items: int = 10_000
) -> None:
    caption = (
        f"wayflowcore {results.get('wayflowcore')}, Python {results.get('python')}, "
        f"{os.cpu_count()} CPUs; medians of repeated runs after 1 warm-up"
    )
    loadavg = results.get("loadavg_1m")
    if loadavg:
        caption += f"; 1-min load avg {loadavg['before']:.1f} before / {loadavg['after']:.1f} after"
        if loadavg["before"] > 0.5 * (os.cpu_count() or 1):
            caption += " (machine busy: small figures are noisy)"
    if llm:
        caption += f"; LLM: {llm['kind']} at {llm['url']}" + (
            f" ({llm['latency_s']} s latency)" if llm.get("latency_s") is not None else ""
        )
    common.print_table(
        "WayFlow figures",
        ["scenario", "WayFlow (here)", "WayFlow (README)", "ideal", "check / notes"],
        table_rows(results, map_large_items),
        caption=caption,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/wayflow_side.py",
        description="Measure WayFlow (wayflowcore) on the shared benchmark configs.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats, fan-out without K=256 (~1 min)"
    )
    parser.add_argument(
        "--only", default=None, help="comma list of: seed,fanout,linear,map,load,rss"
    )
    parser.add_argument("--fanout", default=None, help="comma list of K, e.g. 4,16,64,256")
    parser.add_argument("--tools", default="sync,async", help="tool modes: sync,async")
    parser.add_argument(
        "--map-10k",
        action="store_true",
        help="also MapNode/ParallelMapNode over 10,000 items (own process)",
    )
    parser.add_argument("--map-large-items", type=int, default=10_000)
    parser.add_argument(
        "--map-budget",
        type=float,
        default=90.0,
        help="seconds allowed per 10k-map run (skipped if estimated/slower)",
    )
    parser.add_argument("--no-rss", action="store_true", help="skip the concurrent-RSS child")
    parser.add_argument("--rss-concurrency", type=int, default=100)
    parser.add_argument("--no-load", action="store_true", help="skip the 500-node load timing")
    parser.add_argument(
        "--standin-llm",
        action="store_true",
        help="use bench/common.py's stand-in LLM even if loom's server exists",
    )
    parser.add_argument("--json", default=None, help="also write the raw results here")
    parser.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._child:
        print(json.dumps(_child_main(json.loads(args._child)), default=str), flush=True)
        return 0

    only = set(args.only.split(",")) if args.only else None
    fanout_ks = tuple(int(k) for k in args.fanout.split(",")) if args.fanout else None
    tools = tuple(t for t in args.tools.split(",") if t)
    start = time.perf_counter()
    load_before = os.getloadavg()
    with common.llm_server(prefer="standin" if args.standin_llm else "auto") as llm:
        results = run_all(
            quick=args.quick,
            fanout_ks=fanout_ks,
            tools=tools,
            map_large=args.map_10k,
            map_large_items=args.map_large_items,
            map_large_budget_s=args.map_budget,
            rss=not args.no_rss,
            rss_concurrency=args.rss_concurrency,
            load=not args.no_load,
            only=only,
        )
    results["llm_server"] = llm
    results["total_s"] = time.perf_counter() - start
    results["loadavg_1m"] = {"before": load_before[0], "after": os.getloadavg()[0]}
    print_results(results, llm, args.map_large_items)
    print(f"total {results['total_s']:.0f} s")
    if args.json:
        common.dump_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
