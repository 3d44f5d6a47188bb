"""``loom run CONFIG [--tools FILE.py] [-i NAME=VALUE]... [--json] ...``

Runs a flow and prints its outputs and messages. Exit codes: 0 the flow
finished, 1 it failed, 2 the config or the command is invalid, 3 it waits (for
an answer, a client tool's result or a confirmation: see ``loom resume``). On a
terminal, the questions of a waiting run are asked at the prompt instead.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from typing import Any, TextIO

from loom.cli import (
    EXIT_USAGE,
    add_registry_option,
    collected_warnings,
    err,
    report_error,
    show_warnings,
    yellow,
)
from loom.cli.setup import (
    RuntimeOptions,
    add_backend_options,
    add_policy_options,
    positive_int,
    positive_seconds,
    prepare,
    refuse_backend_only,
)
from loom.cli.waiting import (
    EXIT_INTERRUPTED,
    add_store_options,
    answer_at_terminal,
    cancelled_json,
    cli_metadata,
    exit_code,
    fail_json,
    interactive,
    json_stdout,
    print_json,
    print_result,
    store_from,
)
from loom.errors import LoomError
from loom.llm import LlmOverrides
from loom.local import LocalLlm
from loom.observability.run_options import add_observe_options, observing

EXIT_FAILED = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a flow",
        description="Run a flow. Exit codes: 0 finished, 1 the flow failed, "
        "2 the config or the command is invalid, 3 the run waits (answer it with "
        "`loom resume`; on a terminal the questions are asked at the prompt).",
    )
    parser.add_argument("config", help="the flow (.json, .yaml or .yml)")
    parser.add_argument("--tools", metavar="FILE.py", action="append", default=[],
                        help="Python file whose top-level functions implement ServerTools "
                        "(by name); repeatable")
    parser.add_argument("-i", "--input", metavar="NAME=VALUE", action="append", default=[],
                        help="a flow input, parsed to its declared type; repeatable")
    parser.add_argument("--inputs-json", metavar="JSON", help="flow inputs as a JSON object")
    parser.add_argument("--json", action="store_true",
                        help="print exactly one JSON object: status, outputs, messages, error")
    parser.add_argument("--llm-url", help="send every LLM call to this OpenAI-compatible URL")
    parser.add_argument("--llm-model", help="use this model name for every LLM call")
    parser.add_argument("--fake-llm", action="store_true",
                        help="start loom's built-in test LLM server and use it")
    add_local_option(parser)
    parser.add_argument("--max-concurrency", type=positive_int, default=1024,
                        help="bound on parallel branches in flight (default 1024)")
    parser.add_argument("--inline-tools", action="store_true",
                        help="run sync tools on the event loop instead of worker threads "
                        "(faster for quick tools; never for tools that block)")
    parser.add_argument("--branch-timeout", type=positive_seconds, default=None,
                        help="seconds a parallel branch may run (default: no limit)")
    parser.add_argument("--run-id", metavar="ID", help="the run's id (default: a new uuid)")
    parser.add_argument("--checkpoint", choices=("waits", "nodes"), default="waits",
                        help="checkpoint at waits only (default), or after every node so "
                        "that a killed run resumes where it stopped")
    add_store_options(parser)
    add_registry_option(parser)
    add_policy_options(parser)
    add_backend_options(parser, start=True)
    add_observe_options(parser)
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        stdout = stack.enter_context(json_stdout(args))  # tools print to stderr under --json
        fake_url = stack.enter_context(fake_llm_url(args.fake_llm))  # its URL goes to the Runtime
        served = stack.enter_context(local_llm(args.local_llm and not args.fake_llm))
        with collected_warnings() as warned:
            try:
                refuse_backend_only(args)
                prepared = prepare(
                    # Checkpointed after every node, the run needs its store: open it now.
                    RuntimeOptions.from_args(args), args.config,
                    lambda: store_from(args, lazy=args.checkpoint != "nodes"),
                    inputs=args.input, inputs_json=args.inputs_json, llm_url=fake_url,
                    served=served,
                    require_inputs=True,
                )
            except LoomError as exc:
                show_warnings(warned)
                _fail(args, exc, stdout)
                return EXIT_USAGE
        show_warnings(warned)
        flow, runtime, inputs = prepared.flow, prepared.runtime, prepared.inputs
        try:
            with observing(args, flow, runtime):
                if fake_url is not None and not args.json:
                    err(yellow("no LLM configured: using loom's built-in test LLM server at "
                               f"{fake_url} (answers are canned, not real model output)"))
                started = time.perf_counter()
                result = runtime.run(flow, inputs, run_id=args.run_id,
                                     metadata=cli_metadata(args))
                if interactive(args):
                    result = answer_at_terminal(result, runtime.resume)
                elapsed = time.perf_counter() - started
        except LoomError as exc:  # a run id in use, an unwritable trace file, a broken store
            _fail(args, exc, stdout)
            return EXIT_USAGE
        except KeyboardInterrupt:
            if not args.json:
                raise
            cancelled_json(args.run_id, stdout)
            return EXIT_INTERRUPTED
        finally:
            runtime.close()
            runtime.store.close()
    if args.json:
        print_json(result)
    else:
        print_result(result, elapsed)
    return exit_code(result)


@contextlib.contextmanager
def fake_llm_url(wanted: bool) -> Iterator[str | None]:
    """The URL of a test LLM server running inside the block, if ``wanted``."""
    if not wanted:
        yield None
        return
    from loom.testing import FakeLlmServer

    with FakeLlmServer() as server:
        yield server.url


def add_local_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--local-llm", action="store_true",
                        help="start the local model (loom[local]: llama.cpp's server with "
                        "SmolLM2-135M-Instruct, deterministic) and send every LLM call there")


@contextlib.contextmanager
def local_llm(wanted: bool, chat_format: str | None = None) -> Iterator[LlmOverrides | None]:
    """The overrides that send LLM calls to the local model, running inside the
    block (stopped at its end, on errors and on Ctrl-C too), if ``wanted``."""
    if not wanted:
        yield None
        return
    err("starting the local model...")
    with LocalLlm(chat_format=chat_format) as llm:
        err(f"LLM: {llm.describe()}; a small stand-in for a real deployment's model")
        yield llm.overrides


def _fail(args: argparse.Namespace, exc: LoomError, stdout: TextIO) -> None:
    if args.json:
        fail_json(exc, stdout)
    report_error(exc)
