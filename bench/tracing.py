"""The cost of watching a run: per-node time with no listener, a trace file, OpenTelemetry.

    .venv/bin/python bench/tracing.py [--quick]

Runs the shared ``linear_500`` flow (500 ToolNodes in a row, quick tools marked
``loom.inline`` so that the engine, not a thread hop, dominates) in one event loop
and reports the median wall time per node for each way of watching it, and its
ratio to the run nobody watches:

* no listener: the engine's emit sites cost one attribute check each;
* a no-op listener: events are built and delivered, nobody reads them;
* ``--trace`` (masked, the default): Agent Spec spans and one JSON line per event;
* ``--trace --trace-content``: the same with inputs/outputs serialized and scrubbed;
* OpenTelemetry: one SDK span per Agent Spec span, batched to an exporter that drops.

``bench/runtime.py`` prints this table after its own (see ``tracing_rows``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

import loom  # noqa: E402
from loom.observability import TraceFile  # noqa: E402

SCENARIO = "c_linear_500"


def _inline_tools() -> dict[str, Callable[..., Any]]:
    tools = {}
    for name, fn in common.sync_tool_registry().items():
        wrapper = functools.wraps(fn)(lambda *a, _fn=fn, **kw: _fn(*a, **kw))
        tools[name] = loom.inline(wrapper)
    return tools


def _otel_listener() -> tuple[Any, Callable[[], None]]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from loom.observability.otel import OpenTelemetryExporter

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=65536))
    return OpenTelemetryExporter(provider), provider.shutdown


def _variants(directory: Path) -> list[tuple[str, Callable[[], tuple[list[Any], Callable[[], None]]]]]:
    def none() -> tuple[list[Any], Callable[[], None]]:
        return [], lambda: None

    def noop() -> tuple[list[Any], Callable[[], None]]:
        return [lambda event: None], lambda: None

    def trace(content: bool) -> Callable[[], tuple[list[Any], Callable[[], None]]]:
        def make() -> tuple[list[Any], Callable[[], None]]:
            listener = TraceFile(directory / "run.jsonl", include_content=content)
            return [listener], listener.close

        return make

    def otel() -> tuple[list[Any], Callable[[], None]]:
        listener, close = _otel_listener()
        return [listener], close

    return [
        ("no listener", none),
        ("a no-op listener", noop),
        ("--trace run.jsonl (masked)", trace(False)),
        ("--trace --trace-content", trace(True)),
        ("OpenTelemetry (SDK, batch export)", otel),
    ]


def measure(repeat: int) -> list[tuple[str, float]]:
    """(variant, median µs per node) for each way of watching the run. The variants
    take turns run by run, so a busy machine slows them all alike."""
    sc = common.scenario(SCENARIO)
    nodes = int(sc.get("n_nodes", 500))
    with tempfile.TemporaryDirectory() as tmp:
        made = [(label, *make()) for label, make in _variants(Path(tmp))]

        async def main() -> dict[str, list[float]]:
            runtimes = []
            for label, listeners, _ in made:
                runtime = loom.Runtime(tools=_inline_tools(), listeners=listeners,
                                       use_env=False)
                runtimes.append((label, runtime, runtime.load(common.config_path(sc["config"]))))
            samples: dict[str, list[float]] = {label: [] for label, _, _ in made}
            try:
                for i in range(1 + repeat):
                    for label, runtime, flow in runtimes:
                        start = time.perf_counter()
                        result = await runtime.arun(flow, sc["inputs"])
                        elapsed = time.perf_counter() - start
                        if result.outputs != sc["expected_outputs"]:
                            raise AssertionError(f"{label}: wrong outputs {result.outputs}")
                        if i:  # the first round warms up
                            samples[label].append(elapsed)
            finally:
                for _, runtime, _ in runtimes:
                    runtime.close()
            return samples

        samples = asyncio.run(main())
        for _, _, close in made:
            close()
    return [(label, common.median(samples[label]) / nodes * 1e6) for label, _, _ in made]


def tracing_rows(quick: bool = False) -> list[list[str]]:
    """The table's rows: variant, µs per node, added µs per node, ratio to no listener."""
    measured = measure(repeat=5 if quick else 11)
    base = measured[0][1]
    return [
        [label, f"{us:.1f} µs", "—" if i == 0 else f"+{us - base:.1f} µs", f"{us / base:.2f}x"]
        for i, (label, us) in enumerate(measured)
    ]


COLUMNS = ["watching linear_500 (inline tools)", "per node", "added per node", "vs no listener"]


def print_tracing_table(quick: bool = False) -> None:
    rows = tracing_rows(quick)
    common.print_table(
        "The cost of tracing (per-node overhead)", COLUMNS, rows,
        caption=f"Python {sys.version.split()[0]}; medians of {5 if quick else 11} runs of the "
        "500-node flow after 1 warm-up, one event loop, one Runtime",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/tracing.py",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    print_tracing_table(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
