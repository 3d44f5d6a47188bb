"""Tools for `loom serve` subprocesses: `first` counts its calls in a file; `gated`
says it started, then waits until the test opens the gate (a file)."""

from __future__ import annotations

import os
import time
from pathlib import Path

GATE = Path(os.environ.get("GATE_DIR", "."))


def first(x: str) -> str:
    with open(GATE / "first.calls", "a", encoding="utf-8") as calls:
        calls.write(x + "\n")
    return x + "!"


def gated(y: str) -> str:
    (GATE / "gated.started").write_text(y, encoding="utf-8")
    deadline = time.monotonic() + 60
    while not (GATE / "open").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return y + "?"
