"""What checkpoints cost: per write on SQLite and PostgreSQL, and per run on the seed flow.

(a) The state of a finished run of the 50-node linear flow (configs/linear_50.json:
    50 recorded steps plus the flow document) is written ``--writes`` times to each
    store; the table gives its size, the JSON encoding alone, and the median and
    95th-percentile time of one ``save`` (encode + one transaction), and of ``load``.
(b) The seed flow (configs/seed_marketing.json, tools from configs/tools.py, LLM:
    loom's FakeLlmServer at the manifest's latency) is run with no checkpoint
    (``checkpoint="waits"``: it never waits) and with ``checkpoint="nodes"`` on
    each store; the ratio is the median run time over the one without
    checkpoints. The 50-node flow (tools that return at once) is shown the same
    way, where the per-node cost of a checkpoint is not hidden by tool time.

PostgreSQL: ``$LOOM_TEST_POSTGRES_DSN``, else ``scripts/postgres`` is run to start
the test server; without one its rows say so. Run: ``.venv/bin/python bench/checkpoint.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

import loom  # noqa: E402
from loom.runs import RunState  # noqa: E402
from loom.stores import CheckpointStore, MemoryStore  # noqa: E402
from loom.stores.base import make_owner  # noqa: E402
from loom.stores.sqlite import SqliteStore  # noqa: E402
from loom.testing import FakeLlmServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def postgres_dsn() -> str | None:
    dsn = os.environ.get("LOOM_TEST_POSTGRES_DSN")
    if dsn:
        return dsn
    try:
        done = subprocess.run([str(REPO / "scripts" / "postgres")], capture_output=True,
                              text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


@contextmanager
def stores(dsn: str | None) -> Iterator[list[tuple[str, Callable[[], CheckpointStore] | None]]]:
    """(name, opener) per store; PostgreSQL uses a table of its own, dropped at the end."""
    with tempfile.TemporaryDirectory() as tmp:
        table = f"loom_bench_{uuid.uuid4().hex[:10]}"
        openers: list[tuple[str, Callable[[], CheckpointStore] | None]] = [
            ("SQLite", lambda: SqliteStore(Path(tmp) / "runs.sqlite3")),
        ]
        if dsn:
            from loom.stores.postgres import PostgresStore

            openers.append(("PostgreSQL", lambda: PostgresStore(dsn, table=table)))
        else:
            openers.append(("PostgreSQL", None))
        try:
            yield openers
        finally:
            if dsn:
                from loom.stores.postgres import PostgresStore

                with PostgresStore(dsn, table=table) as store:
                    store.drop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:.0f} µs" if us >= 10 else f"{us:.1f} µs"


def linear_state() -> RunState:
    """The state of a finished run of linear_50, as its last checkpoint holds it."""
    sc = common.scenario("c_linear_50")
    store = MemoryStore()
    with loom.Runtime(tools=common.tool_registry("sync"), store=store, checkpoint="nodes",
                      keep_finished=True, use_env=False) as rt:
        result = rt.run(common.config_text(sc["config"]), sc["inputs"], run_id="bench")
    assert result.status == "finished", result.error
    state = store.load("bench")
    assert len(state.entries) == 50, len(state.entries)
    state.status, state.owner = "running", make_owner()
    return state


def per_write(openers: list[Any], writes: int) -> list[list[str]]:
    state = linear_state()
    text = state.to_json()
    encode = [_timed(state.to_json) for _ in range(writes)]
    rows = []
    for name, opener in openers:
        if opener is None:
            rows.append([name, f"{len(text) / 1024:.1f} KiB", fmt_us(statistics.median(encode)),
                         "no server", "—", "—"])
            continue
        store = opener()
        try:
            store.save(state)  # the table and the row exist from here on
            saves, loads = [], []
            for _ in range(writes):
                state.updated_at = time.time()
                saves.append(_timed(store.save, state))
            for _ in range(min(writes, 200)):
                loads.append(_timed(store.load, "bench"))
        finally:
            store.close()
        rows.append([name, f"{len(text) / 1024:.1f} KiB", fmt_us(statistics.median(encode)),
                     fmt_us(statistics.median(saves)), fmt_us(percentile(saves, 0.95)),
                     fmt_us(statistics.median(loads))])
    return rows


def _timed(fn: Callable[..., Any], *args: Any) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def run_times(config: str, inputs: dict[str, Any], tools: dict[str, Any], llm_url: str | None,
              store: CheckpointStore | None, repeat: int) -> float:
    """Median wall time of one run; checkpoint="nodes" when a store is given."""
    options: dict[str, Any] = {"use_env": False}
    if llm_url:
        options["llm"] = {"url": llm_url}
    if store is not None:
        options.update(store=store, checkpoint="nodes")
    text = common.config_text(config)
    times = []
    with loom.Runtime(tools=tools, **options) as rt:
        flow = rt.load(text)
        for index in range(repeat + 1):
            started = time.perf_counter()
            result = rt.run(flow, inputs)
            elapsed = time.perf_counter() - started
            assert result.status == "finished", result.error
            if index:  # the first run warms up
                times.append(elapsed)
    return statistics.median(times)


def per_run(openers: list[Any], repeat: int) -> list[list[str]]:
    rows = []
    seed, linear = common.scenario("a_seed"), common.scenario("c_linear_50")
    with FakeLlmServer(latency=common.llm_latency()) as srv:
        cases = [("seed flow", seed, srv.url, repeat),
                 ("linear_50 flow", linear, None, repeat * 10)]
        for label, sc, url, count in cases:
            tools = common.tool_registry("sync")
            base = run_times(sc["config"], sc["inputs"], tools, url, None, count)
            rows.append([label, "none (waits only)", _fmt_run(base), "1.00x"])
            for name, opener in openers:
                if opener is None:
                    rows.append([label, f"after every node, {name}", "no server", "—"])
                    continue
                store = opener()
                try:
                    timed = run_times(sc["config"], sc["inputs"], tools, url, store, count)
                finally:
                    store.close()
                rows.append([label, f"after every node, {name}", _fmt_run(timed),
                             f"{timed / base:.2f}x"])
    return rows


def _fmt_run(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.3f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=500, help="saves per store (a)")
    parser.add_argument("--repeat", type=int, default=5, help="seed runs per setting (b)")
    args = parser.parse_args(argv)
    dsn = postgres_dsn()
    with stores(dsn) as openers:
        common.print_table(
            "(a) one checkpoint of a 50-node flow's run state",
            ["store", "state size", "JSON encode", "save (median)", "save (p95)",
             "load (median)"],
            per_write(openers, args.writes),
            caption="save = encode + one transaction (SQLite: WAL, synchronous=NORMAL; "
            "PostgreSQL: local server, default fsync settings)",
        )
        common.print_table(
            "(b) checkpoint after every node: run time vs no checkpoint",
            ["flow", "checkpoints", "median run", "ratio"],
            per_run(openers, args.repeat),
            caption="seed: 4 tools of 0.2 s in parallel + an LLM call "
            f"({common.llm_latency():g} s, FakeLlmServer); linear_50: 50 instant tools",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
