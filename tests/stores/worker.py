"""A separate process for the store tests: ``python worker.py COMMAND SPEC_JSON ...``.

``run SPEC FLOW RUN_ID LOG``: runs the flow (checkpoint after every node) with the
tool ``step``, which appends ``start <node> <n>`` to LOG, sleeps, returns n + 1.
``resume SPEC RUN_ID GO ANSWERS``: waits until the file GO exists, then resumes
RUN_ID with the JSON ANSWERS (tool ``slow`` sleeps 1 s; GO.ready.PID says it waits); prints the status, or
the CheckpointError and exits 4.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import loom
from loom.errors import CheckpointError


def open_spec(spec: dict[str, Any]) -> Any:
    if spec["kind"] == "sqlite":
        from loom.stores.sqlite import SqliteStore

        return SqliteStore(spec["path"])
    from loom.stores.postgres import PostgresStore

    return PostgresStore(spec["dsn"], table=spec["table"])


def step_tool(log: str, delay: float) -> Any:
    def step(n: int, label: str) -> int:
        with open(log, "a") as out:
            out.write(f"start {label} {n}\n")
            out.flush()
            os.fsync(out.fileno())
        time.sleep(delay)
        return n + 1

    return step


def main(argv: list[str]) -> int:
    command, spec = argv[0], json.loads(argv[1])
    store = open_spec(spec)
    if command == "run":
        flow_path, run_id, log = argv[2:5]
        tools = {"step": step_tool(log, 0.5)}
        with loom.Runtime(tools=tools, store=store, checkpoint="nodes", use_env=False) as rt:
            result = rt.run(Path(flow_path), {"n": 0}, run_id=run_id)
        print(result.status)
        return 0
    if command == "resume":
        run_id, go, answers = argv[2], Path(argv[3]), json.loads(argv[4])
        Path(f"{go}.ready.{os.getpid()}").touch()
        while not go.exists():
            time.sleep(0.002)
        tools = {"slow": lambda: time.sleep(1.0) or "slept"}
        with loom.Runtime(tools=tools, store=store, use_env=False) as rt:
            try:
                result = rt.resume(run_id, answers)
            except CheckpointError as exc:
                print(json.dumps({"error": str(exc)}))
                return 4
        print(json.dumps({"status": result.status, "outputs": result.outputs}))
        return 0
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
