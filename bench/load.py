"""Loading speed: loom vs pyagentspec, side by side in one run.

    .venv/bin/python bench/load.py [--quick] [--repeat N]

Each cell is the median wall time of N repetitions (after one untimed warm-up)
of reading, parsing, building and validating a configuration:

(a) every file of the conformance corpus that is expected to load (with the
    registries the corpus provides; a file pyagentspec refuses still counts its
    time until the refusal, and the table says how many each one loaded);
(b) the 500-ToolNode linear flow;
(c) ParallelFlowNode fan-outs of 4, 16, 64 and 256 subflows.

pyagentspec on the 256 fan-out takes about 14 s, so it runs once, without
warm-up; ``--quick`` skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import loom

SHARED = Path(os.environ.get("LOOM_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared"))
CONFORMANCE = SHARED / "conformance"
CONFIGS = SHARED / "bench" / "configs"
LOADABLE = ("load", "load_lenient", "load_with_registry")
# Secret values the corpus's howto_oracle_datastore expects at load time.
SECRETS = {
    "oracle_tls_config_id.user": "scott",
    "oracle_tls_config_id.password": "tiger",
    "oracle_tls_config_id.dsn": "db.example.com:1522/service",
}
FANOUTS = (4, 16, 64, 256)


@dataclass
class Case:
    """One file to load, with what it needs."""

    path: Path
    registry_files: list[Path]


@dataclass
class Row:
    label: str
    loom_s: float | None
    sdk_s: float | None
    note: str = ""


# -- the two loaders ----------------------------------------------------------------------


def loom_loader(case: Case) -> Callable[[], bool]:
    def run() -> bool:
        registry: dict[str, Any] | None = None
        if case.registry_files:
            registry = {}
            for file in case.registry_files:
                registry = loom.load_registry(file, registry=registry)
            registry.update(SECRETS)
        elif "oracle" in case.path.name:
            registry = dict(SECRETS)
        loom.load(case.path, registry=registry)
        return True

    return run


def sdk_loader(case: Case) -> Callable[[], bool]:
    from pyagentspec.serialization import AgentSpecDeserializer

    def parse(deserializer: Any, path: Path, **kwargs: Any) -> Any:
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            return deserializer.from_yaml(text, **kwargs)
        return deserializer.from_json(text, **kwargs)

    def run() -> bool:
        deserializer = AgentSpecDeserializer()
        registry: dict[str, Any] = {}
        for file in case.registry_files:
            registry.update(parse(deserializer, file, import_only_referenced_components=True))
        if case.registry_files or "oracle" in case.path.name:
            registry.update(SECRETS)
        try:
            parse(deserializer, case.path, components_registry=registry or None)
        except Exception:  # the SDK refuses some files loom loads (lenient ones)
            return False
        return True

    return run


# -- timing ----------------------------------------------------------------------------------


def measure(runs: list[Callable[[], bool]], repeat: int, warm_up: bool = True) -> tuple[float, int]:
    """Median seconds to run every callable once, and how many succeeded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if warm_up:
            for run in runs:
                run()
        times, loaded = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            loaded = sum(1 for run in runs if run())
            times.append(time.perf_counter() - started)
    return statistics.median(times), loaded


def corpus_cases() -> list[Case]:
    expectations = json.loads((CONFORMANCE / "expectations.json").read_text())
    registries = {
        suffix: [CONFORMANCE / rel for rel, e in sorted(expectations.items())
                 if e["expect"] == "registry" and rel.endswith(suffix)]
        for suffix in (".json", ".yaml")
    }
    cases = []
    for rel, expectation in sorted(expectations.items()):
        if expectation["expect"] not in LOADABLE:
            continue
        path = CONFORMANCE / rel
        needs_registry = "disaggregated" in rel and expectation["expect"] == "load_with_registry"
        cases.append(Case(path, registries.get(path.suffix, []) if needs_registry else []))
    return cases


def compare(label: str, cases: list[Case], repeat: int, sdk_repeat: int, sdk: bool = True,
            sdk_warm_up: bool = True) -> Row:
    loom_s, loom_ok = measure([loom_loader(c) for c in cases], repeat)
    note = ""
    sdk_s: float | None = None
    if sdk:
        sdk_s, sdk_ok = measure([sdk_loader(c) for c in cases], sdk_repeat, warm_up=sdk_warm_up)
        if len(cases) > 1:
            note = f"{len(cases)} files: loom loads {loom_ok}, pyagentspec {sdk_ok}"
        elif not sdk_warm_up:
            note = "pyagentspec: one run, no warm-up"
    else:
        note = "pyagentspec skipped (--quick)"
    return Row(label, loom_s, sdk_s, note)


def show(rows: list[Row], repeat: int, sdk_repeat: int) -> None:
    table = Table(title=f"Load + validate (median of {repeat} loom / {sdk_repeat} pyagentspec runs)")
    table.add_column("configuration")
    table.add_column("loom", justify="right")
    table.add_column("pyagentspec", justify="right")
    table.add_column("loom is", justify="right")
    table.add_column("notes")

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:,.1f} ms"

    for row in rows:
        ratio = "-" if not row.sdk_s or not row.loom_s else f"{row.sdk_s / row.loom_s:,.1f}x faster"
        table.add_row(row.label, ms(row.loom_s), ms(row.sdk_s), ratio, row.note)
    Console(width=max(Console().width, 120)).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip pyagentspec on the 256 fan-out")
    parser.add_argument("--repeat", type=int, default=7, help="loom repetitions (default 7)")
    parser.add_argument("--sdk-repeat", type=int, default=3, help="pyagentspec repetitions (default 3)")
    args = parser.parse_args(argv)
    if not CONFORMANCE.is_dir() or not CONFIGS.is_dir():
        print(f"the shared folder {SHARED} is absent (set LOOM_SHARED_DIR)", file=sys.stderr)
        return 2
    rows = [
        compare("(a) conformance corpus (loadable files)", corpus_cases(), args.repeat,
                args.sdk_repeat),
        compare("(b) linear_500.json", [Case(CONFIGS / "linear_500.json", [])], args.repeat,
                args.sdk_repeat),
    ]
    for k in FANOUTS:
        big = k == 256
        rows.append(compare(
            f"(c) pfn_fanout_{k}.json",
            [Case(CONFIGS / f"pfn_fanout_{k}.json", [])],
            args.repeat,
            1 if big else args.sdk_repeat,
            sdk=not (big and args.quick),
            sdk_warm_up=not big,
        ))
    show(rows, args.repeat, args.sdk_repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
