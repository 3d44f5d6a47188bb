"""What ``loom run`` and ``loom resume`` add to watch a run: ``--trace FILE``,
``--trace-content``, ``--quiet``, and the live progress tree on a terminal
(``loom chat`` takes the trace options; it prints the conversation instead)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from rich.console import Console

from loom.errors import LoomError
from loom.observability.progress import LiveProgress
from loom.observability.tracefile import TraceFile


def add_observe_options(parser: argparse.ArgumentParser) -> None:
    add_trace_options(parser)
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no live progress tree on the terminal, just the result")


def add_trace_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", metavar="FILE.jsonl",
                        help="write every event of the run to FILE, one JSON line each "
                        "(inputs, outputs, prompts and messages masked; secrets never written)")
    parser.add_argument("--trace-content", action="store_true",
                        help="include inputs, outputs, prompts, LLM text and messages in "
                        "the trace (they may hold personal data; secrets are still removed)")


def live_wanted(args: argparse.Namespace, console: Console) -> bool:
    """The live tree is drawn on a terminal, unless --quiet or --json."""
    return (
        console.is_terminal
        and not getattr(args, "quiet", False)
        and not getattr(args, "json", False)
    )


@contextlib.contextmanager
def observing(
    args: argparse.Namespace, flow: Any, runtime: Any, live: bool = True
) -> Iterator[None]:
    """Add the trace file and (with ``live``) the live progress listeners to
    ``runtime`` for the duration of the block; close them after."""
    added: list[Any] = []
    trace: TraceFile | None = None
    progress = None
    if getattr(args, "trace", None):
        # The flow's secrets and the environment's keys the trace finds itself.
        key = (getattr(runtime, "llm_overrides", None) or {}).get("api_key")
        secrets = [key] if key else []
        try:
            trace = TraceFile(args.trace, secrets=secrets,
                              include_content=getattr(args, "trace_content", False))
        except OSError as exc:
            raise LoomError(f"cannot write the trace file {args.trace}: "
                            f"{exc.strerror or exc}") from None
        added.append(trace)
    console = Console(stderr=True)
    if live and live_wanted(args, console):
        progress = LiveProgress(console)
        added.append(progress)
    runtime.listeners.extend(added)
    try:
        yield
    finally:
        for listener in added:
            with contextlib.suppress(ValueError):
                runtime.listeners.remove(listener)
        if progress is not None:
            progress.close()
        if trace is not None:
            trace.close()
