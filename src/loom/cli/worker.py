"""``loom worker``: run loom's workflow and activities for a Temporal task queue."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from loom.cli import EXIT_OK, EXIT_USAGE, add_registry_option, err, read_registries, report_error
from loom.cli.setup import (
    CLAIM_CHECK_ENV,
    add_claim_check_option,
    load_tools,
    positive_int,
    positive_seconds,
)
from loom.errors import LoomError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run flows for a Temporal server (loom[temporal])",
        description="Run loom's workflow and its activities (tool and LLM calls) for one "
        "Temporal task queue, until SIGINT or SIGTERM. Several workers may share a queue.",
    )
    parser.add_argument("--temporal", metavar="HOST:PORT", required=True,
                        help="the Temporal server's frontend address")
    parser.add_argument("--namespace", metavar="NS", default="default",
                        help="the Temporal namespace (default: default)")
    parser.add_argument("--task-queue", metavar="Q", default="loom",
                        help="the task queue to poll (default: loom)")
    parser.add_argument("--tools", metavar="FILE.py", action="append", default=[],
                        help="Python file whose top-level functions implement ServerTools "
                        "(by name); repeatable")
    parser.add_argument("--activities-only", action="store_true",
                        help="run only tool and LLM calls, no workflows (a worker next to "
                        "the systems its tools need)")
    parser.add_argument("--mcp-sessions", metavar="N", type=positive_int, default=64,
                        help="MCP sessions kept open for the runs this worker serves (one "
                        "per run and server; least recently used closed first; default 64)")
    parser.add_argument("--mcp-idle-timeout", metavar="SECONDS", type=positive_seconds,
                        default=300.0, help="close a kept MCP session unused this long "
                        "(default 300)")
    add_claim_check_option(parser)
    add_registry_option(parser)
    parser.set_defaults(handler=worker_command)


def worker_command(args: argparse.Namespace) -> int:
    try:
        tools = load_tools(args.tools)
        registry = read_registries(args.registry)
        from loom.temporal import open_claim_check, serve  # loom[temporal]: optional

        url = args.claim_check or os.environ.get(CLAIM_CHECK_ENV)
        claim_check = open_claim_check(url) if url else None

        def ready() -> None:
            err(f"loom worker: polling task queue {args.task_queue!r} on {args.temporal} "
                f"(namespace {args.namespace!r})")

        asyncio.run(serve(args.temporal, args.namespace, args.task_queue, tools,
                          registry=registry, activities_only=args.activities_only,
                          ready=ready, mcp_sessions=args.mcp_sessions,
                          mcp_idle_timeout=args.mcp_idle_timeout, claim_check=claim_check))
    except LoomError as exc:
        report_error(exc)
        return EXIT_USAGE
    return EXIT_OK
