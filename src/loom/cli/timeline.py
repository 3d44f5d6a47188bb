"""``loom timeline TRACE.jsonl [-o timeline.png] [--title TEXT]``

Draws the Gantt chart of a run from the trace file ``loom run --trace`` wrote:
one bar per node execution, the nodes of each parallel branch on rows of their
own under the parallel node, so overlapping branches are visible at a glance.
PNG, SVG or PDF, from the output's extension (default: the trace's name with .png).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from loom.cli import EXIT_OK, out
from loom.errors import LoomError, TimelineError
from loom.observability.timeline import draw_timeline
from loom.observability.tracefile import read_trace

FORMATS = (".png", ".svg", ".pdf")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "timeline",
        help="draw a Gantt chart of a run from its trace file",
        description="Draw one bar per node execution of a traced run "
        "(`loom run ... --trace run.jsonl`), parallel branches on their own rows.",
    )
    parser.add_argument("trace", metavar="TRACE.jsonl", help="a trace written by loom run --trace")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="timeline.png, .svg or .pdf (default: TRACE with .png)")
    parser.add_argument("--title", help="the chart's title (default: flow, status, duration)")
    parser.set_defaults(handler=timeline_command)


def timeline_command(args: argparse.Namespace) -> int:
    source = Path(args.trace)
    output = Path(args.output) if args.output else source.with_suffix(".png")
    if output.suffix.lower() not in FORMATS:
        raise TimelineError(f"cannot tell the picture format from {output.name!r}",
                            hint="name the output .png, .svg or .pdf")
    try:
        spans = read_trace(source)
    except FileNotFoundError:
        raise LoomError(f"trace file not found: {source}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise LoomError(f"cannot read the trace: {exc}",
                        hint="give a file written by `loom run --trace`") from None
    rows = draw_timeline(spans, output, title=args.title)
    nodes = sum(1 for span in spans if span.type == "NodeExecutionSpan")
    out(f"wrote {output} ({rows} rows, {nodes} node runs)")
    return EXIT_OK
