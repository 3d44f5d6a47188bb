"""``loom serve DIR [--host 127.0.0.1] [--port 8000] [--store URL] [--tools FILE.py]...
[--registry FILE]... [--allow-components NAME,...] [--block-components NAME,...]
[--token-file FILE] [--max-body BYTES] [--workers N] [--backend temporal://HOST:PORT/NS
--task-queue Q]``

Serves every config of DIR over HTTP (see the README section "loom serve").
Without a token (``--token-file``, ``LOOM_SERVER_TOKENS``) it binds only a
loopback address."""

from __future__ import annotations

import argparse
import inspect
import json
import os
from pathlib import Path
from typing import Any

from loom._optional import require
from loom.cli import EXIT_OK, add_registry_option, err, read_registries, yellow
from loom.cli.setup import (
    CLAIM_CHECK_ENV,
    RuntimeOptions,
    add_backend_options,
    add_policy_options,
    load_tools,
    positive_int,
    positive_seconds,
    temporal_backend,
)
from loom.runtime.blocking import run_blocking
from loom.stores import store_opener

WORKERS_ENV = "LOOM_SERVE_OPTIONS"  # the options, for the worker processes of --workers


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve the configs of a directory over HTTP",
        description="Serve every config (.json, .yaml, .yml) of DIR, each under its file "
        "stem, as an HTTP API: components, runs, answers, cancel, event streams.",
    )
    parser.add_argument("directory", metavar="DIR", help="the directory of configs to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--store", metavar="URL", default=None,
                        help="where runs are kept: sqlite:///path, postgresql://user@host/db "
                        "(default: $LOOM_STORE, else ~/.local/share/loom/server.sqlite3)")
    parser.add_argument("--tools", metavar="FILE.py", action="append", default=[],
                        help="Python file whose top-level functions implement ServerTools "
                        "(by name); repeatable")
    add_registry_option(parser)
    add_policy_options(parser)
    parser.add_argument("--token-file", metavar="FILE",
                        help="bearer tokens, one a line (also $LOOM_SERVER_TOKENS, "
                        "comma-separated)")
    parser.add_argument("--max-body", metavar="BYTES", type=positive_int, default=1024 * 1024,
                        help="largest request body accepted (default 1 MiB)")
    parser.add_argument("--max-runs-per-token", metavar="N", type=positive_int, default=256,
                        help="runs one token may have going on at once (default 256)")
    parser.add_argument("--checkpoint", choices=("waits", "nodes"), default="waits",
                        help="checkpoint runs at waits only (default), or after every node "
                        "so that a run cut short by a crash resumes on restart")
    parser.add_argument("--llm-url", help="send every LLM call to this OpenAI-compatible URL")
    parser.add_argument("--llm-model", help="use this model name for every LLM call")
    parser.add_argument("--heartbeat", metavar="SECONDS", type=positive_seconds, default=15.0,
                        help="seconds between keep-alive comments of event streams (default 15)")
    parser.add_argument("--drain", metavar="SECONDS", type=positive_seconds, default=30.0,
                        help="on shutdown, seconds runs going on may take to end (default 30)")
    parser.add_argument("--workers", metavar="N", type=positive_int, default=1,
                        help="server processes (default 1); with more than one, use a "
                        "PostgreSQL store")
    add_backend_options(parser)
    parser.set_defaults(handler=serve_command)


def options_of(args: argparse.Namespace) -> dict[str, Any]:
    """The options a server process builds its app from (JSON: workers read them)."""
    return {
        "directory": str(Path(args.directory).resolve()),
        "tools": [str(Path(p).resolve()) for p in args.tools],
        "registry": [str(Path(p).resolve()) for p in args.registry],
        "store_url": args.store, "token_file": args.token_file, "max_body": args.max_body,
        "runs_per_token": args.max_runs_per_token, "checkpoint": args.checkpoint,
        "llm_url": args.llm_url, "llm_model": args.llm_model, "heartbeat": args.heartbeat,
        "drain_seconds": args.drain, "allowed_components": args.allowed_components or [],
        "blocked_components": args.blocked_components or [],
        "backend": args.backend, "task_queue": args.task_queue,
        "claim_check": args.claim_check or os.environ.get(CLAIM_CHECK_ENV),
    }


def _server() -> Any:
    """loom.server, once its third-party parts are known to be installed."""
    require("starlette", "server", "loom serve")
    require("uvicorn", "server", "loom serve")
    import loom.server.app
    import loom.server.config

    return loom.server


def app_from_options(options: dict[str, Any]) -> Any:
    server = _server()
    policy: dict[str, Any] = {"allowed_components": options["allowed_components"] or None,
                              "blocked_components": options["blocked_components"] or None}
    config = server.ServerConfig(
        directory=Path(options["directory"]), tools=load_tools(options["tools"]),
        registry=read_registries(options["registry"], **policy) or {},
        store_url=options["store_url"], tokens=tuple(_tokens(options["token_file"])),
        max_body=options["max_body"], runs_per_token=options["runs_per_token"],
        checkpoint=options["checkpoint"], llm_url=options["llm_url"],
        llm_model=options["llm_model"], heartbeat=options["heartbeat"],
        drain_seconds=options["drain_seconds"],
        allowed_components=options["allowed_components"],
        blocked_components=options["blocked_components"],
        backend=options.get("backend"), task_queue=options.get("task_queue") or "loom",
        claim_check=options.get("claim_check"),
    )
    return server.create_app(config=config)


def worker_app() -> Any:
    """The app of one worker process of ``--workers N`` (uvicorn imports it by name)."""
    return app_from_options(json.loads(os.environ[WORKERS_ENV]))


def _tokens(token_file: str | None) -> list[str]:
    tokens: list[str] = _server().config.read_tokens(token_file)
    return tokens


def serve_command(args: argparse.Namespace) -> int:
    server = _server()
    uvicorn = require("uvicorn", "server", "loom serve")
    server.config.check_bind(args.host, _tokens(args.token_file))
    store_opener(args.store)  # a bad URL is refused before anything starts
    if args.backend is not None:  # so is a Temporal server out of reach
        run_blocking(temporal_backend(RuntimeOptions(
            backend=args.backend, task_queue=args.task_queue, claim_check=args.claim_check,
        )).areachable())
    options = options_of(args)
    if args.workers > 1:
        if not (args.store or "").startswith(("postgresql://", "postgres://")):
            err(yellow("warning: "), "several workers on a SQLite store share one file; "
                "use a PostgreSQL store for more than one worker")
        os.environ[WORKERS_ENV] = json.dumps(options)
        extra = {}
        if "timeout_worker_healthcheck" in inspect.signature(uvicorn.run).parameters:
            extra["timeout_worker_healthcheck"] = 60  # a worker loads every config first
        uvicorn.run("loom.cli.serve:worker_app", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level="info",
                    timeout_graceful_shutdown=args.drain + 5, **extra)
        return EXIT_OK
    app = app_from_options(options)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info",
                timeout_graceful_shutdown=args.drain + 5)
    return EXIT_OK
