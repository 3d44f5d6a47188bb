"""What a ``loom serve`` process pays to share its runs with the other processes on
its store (live events written every 0.25 s, cancel requests looked up).

    .venv/bin/python bench/server_sharing.py [--runs 200] [--rounds 2] [--store URL]

``--runs`` seed-flow runs at once through the HTTP API of an app served in this
process (as bench/server.py, ``POST ...?wait=60``), with sharing on and off, in
turns (``--rounds`` of each), each on a fresh store: PostgreSQL (``--store``, else
``$LOOM_TEST_POSTGRES_DSN``, each round on a schema of its own), else SQLite.
Reported: wall time, throughput, p50/p99, the CPU time of the process (client and
server; the client's work is the same both ways), and the store writes of events
(calls, rows, seconds spent in them, in the store's thread).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from loom.server import ServerConfig, create_app  # noqa: E402
from loom.testing import FakeLlmServer, serve_asgi  # noqa: E402
from server import through_api  # noqa: E402


def fresh_store(base: str | None, place: Path) -> tuple[str, Any]:
    """A store URL of its own, and what drops it."""
    if not base:
        return f"sqlite:///{place}/{uuid.uuid4().hex[:8]}.sqlite3", lambda: None
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")

    return base + ("&" if "?" in base else "?") + f"options=-csearch_path%3D{schema}", drop


def one_round(configs: Path, url: str, runs: int, shared: bool) -> dict[str, Any]:
    app = create_app(config=ServerConfig(directory=configs, store_url=url,
                                         tools=common.tool_registry("sync")))
    manager = app.app.state.loom
    if not shared:  # events reach the store at waits and ends only, as before
        manager.sharing.live = manager.sharing.cancels = False
    writes: dict[str, float] = {"calls": 0, "rows": 0, "seconds": 0.0}
    append = manager.store.append_events

    def counted(rows: Any) -> None:
        began = time.perf_counter()
        append(rows)
        writes["calls"] += 1
        writes["rows"] += len(rows)
        writes["seconds"] += time.perf_counter() - began

    manager.store.append_events = counted
    inputs = common.scenario("a_seed")["inputs"]
    with serve_asgi(app, lifespan="on") as base:
        asyncio.run(through_api(base, 5, inputs))  # warm-up
        writes.update(calls=0, rows=0, seconds=0.0)
        cpu = time.process_time()
        result = asyncio.run(through_api(base, runs, inputs))
        result["cpu"] = time.process_time() - cpu
    result.update(writes)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--store", default=os.environ.get("LOOM_TEST_POSTGRES_DSN"))
    args = parser.parse_args(argv)
    rows = []
    errors = 0
    with FakeLlmServer(latency=common.llm_latency(), record=False) as llm, \
            tempfile.TemporaryDirectory() as tmp:
        configs = Path(tmp) / "configs"
        configs.mkdir()
        (configs / "seed.json").write_text(common.config_text("seed_marketing.json", llm.url))
        for turn in range(args.rounds):
            for shared in ((True, False) if turn % 2 == 0 else (False, True)):
                url, drop = fresh_store(args.store, Path(tmp))
                try:
                    r = one_round(configs, url, args.runs, shared)
                finally:
                    drop()
                errors += r["errors"]
                rows.append(["on" if shared else "off", f"{r['wall']:.2f} s",
                             f"{r['throughput']:.1f} runs/s", f"{r['p50'] * 1000:.0f} ms",
                             f"{r['p99'] * 1000:.0f} ms", f"{r['cpu']:.2f} s",
                             int(r["calls"]), int(r["rows"]), f"{r['seconds']:.2f} s",
                             r["errors"]])
    common.print_table(
        f"{args.runs} seed-flow runs at once, {'PostgreSQL' if args.store else 'SQLite'} store",
        ["sharing", "wall", "throughput", "p50", "p99", "CPU", "event writes", "events",
         "writing", "errors"], rows)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
