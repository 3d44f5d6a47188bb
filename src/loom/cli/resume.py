"""``loom resume RUN_ID [--answer TEXT | --answers-json JSON] [--json] [--store URL] [--trace FILE]``

Continues a saved run: a run that waits, with the answers to its pending
requests, or a run whose process died (checkpointed after every node), with no
answer. The tools and registries the run was started with (kept in its
metadata) are loaded again; ``--tools``/``--registry`` replace them. Steps
already recorded are replayed, not run again. ``--trace``, ``--trace-content``
and ``--quiet`` watch the continued run as they do for ``loom run``. Exit codes
as ``loom run``: 0 finished, 1 failed, 2 the command cannot be carried out, 3
still waiting.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from pathlib import Path
from typing import Any, TextIO

from loom.cli import EXIT_USAGE, add_registry_option, report_error
from loom.cli.run import fake_llm_url, local_llm
from loom.cli.setup import (
    CommandError,
    RuntimeOptions,
    add_backend_options,
    add_policy_options,
    build_runtime,
    json_value,
    take_secrets,
)
from loom.cli.waiting import (
    EXIT_INTERRUPTED,
    METADATA_KEY,
    add_store_options,
    answer_at_terminal,
    cancelled_json,
    exit_code,
    fail_json,
    interactive,
    json_stdout,
    print_json,
    print_result,
    store_from,
)
from loom.errors import CheckpointError, LoomError
from loom.observability.run_options import add_observe_options, observing
from loom.runs import RunState
from loom.runtime import Runtime
from loom.runtime.blocking import run_blocking
from loom.runtime.journal import PendingRequest
from loom.runtime.result import RunResult
from loom.stores.memory import MemoryStore

_YES = ("y", "yes", "true", "1", "ok", "confirm")
_NO = ("n", "no", "false", "0", "refuse", "deny")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "resume",
        help="continue a run that waits, or whose process died",
        description="Continue a saved run. Exit codes: 0 finished, 1 the flow failed, "
        "2 the command cannot be carried out, 3 the run still waits.",
    )
    parser.add_argument("run_id", metavar="RUN_ID", help="the run to continue")
    answer = parser.add_mutually_exclusive_group()
    answer.add_argument("--answer", metavar="TEXT",
                        help="the answer to the run's only pending request: text for an "
                        "input, yes/no for a confirmation, JSON for a client tool's result")
    answer.add_argument("--answers-json", metavar="JSON",
                        help='answers by pending request id: \'{"<id>": <answer>, ...}\'')
    parser.add_argument("--json", action="store_true",
                        help="print exactly one JSON object, as `loom run --json` does")
    parser.add_argument("--tools", metavar="FILE.py", action="append", default=[],
                        help="tools file(s) to use instead of those the run started with")
    add_store_options(parser)
    add_registry_option(parser)
    add_policy_options(parser)
    add_backend_options(parser)
    add_observe_options(parser)
    parser.set_defaults(handler=resume_command)


def resume_command(args: argparse.Namespace) -> int:
    try:
        with json_stdout(args) as stdout:  # tools print to stderr under --json
            result = _resumed(args, stdout)
    except _Stopped as stop:
        return stop.code
    if args.json:
        print_json(result)
    else:
        print_result(result)
    return exit_code(result)


class _Stopped(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _resumed(args: argparse.Namespace, stdout: TextIO) -> RunResult:
    store = None
    try:
        if args.backend is not None:
            return _resumed_elsewhere(args)
        store = store_from(args, lazy=False)
        state = store.load(args.run_id)
        if state.status in ("finished", "failed", "cancelled"):
            raise CheckpointError(
                f"run '{args.run_id}' already {state.status}; there is nothing to resume",
                hint=f"see it with `loom runs show {args.run_id}`",
            )
        answers = _answers(args, state)
        if not answers and state.status == "waiting" and not interactive(args):
            result = _waiting_result(state)  # nothing to add: report where it stands
        else:
            with contextlib.ExitStack() as stack:
                runtime = _runtime(args, state, store, stack)
                try:
                    with observing(args, runtime.flow_of(state), runtime):
                        result = runtime.resume(args.run_id, answers)
                        if interactive(args):
                            result = answer_at_terminal(result, runtime.resume)
                finally:
                    runtime.close()
    except LoomError as exc:
        if args.json:
            fail_json(exc, stdout)
        report_error(exc)
        raise _Stopped(EXIT_USAGE) from None
    except KeyboardInterrupt:
        if not args.json:
            raise
        cancelled_json(args.run_id, stdout)
        raise _Stopped(EXIT_INTERRUPTED) from None
    finally:
        if store is not None:
            store.close()
    return result


def _resumed_elsewhere(args: argparse.Namespace) -> RunResult:
    """Resume a run that lives in Temporal (``--backend``): the answers go to its workflow."""
    options = RuntimeOptions(backend=args.backend, task_queue=args.task_queue,
                             claim_check=args.claim_check)
    with build_runtime(options, MemoryStore(), tools={}, registry={}) as runtime:
        now: RunResult = run_blocking(runtime.backend.aview(args.run_id))  # type: ignore[union-attr]
        if now.status != "waiting":
            raise CheckpointError(f"run '{args.run_id}' already {now.status}; there is "
                                  "nothing to resume")
        state = RunState(run_id=args.run_id, status="waiting", flow={}, digest="", inputs={},
                         pending=[request.to_dict() for request in now.pending])
        answers = _answers(args, state)
        if not answers:
            return now
        with observing(args, None, runtime):
            return runtime.resume(args.run_id, answers)


def _answers(args: argparse.Namespace, state: RunState) -> dict[str, Any]:
    pending = state.pending
    if args.answers_json is not None:
        answers = json_value(args.answers_json, "--answers-json is not valid JSON")
        if not isinstance(answers, dict):
            raise CommandError("--answers-json must be a JSON object of answers by "
                               "pending request id")
        return answers
    if args.answer is None:
        return {}
    if len(pending) != 1:
        ids = ", ".join(f"{item['id']} ({item['kind']} at {item['node']})" for item in pending)
        raise CommandError(
            f"run '{state.run_id}' waits for {len(pending)} requests, and --answer answers "
            f"only one" + (f": {ids}" if ids else ""),
            hint="give each answer by id: --answers-json '{\"<id>\": <answer>, ...}'"
            if pending else "it waits for nothing: resume it without --answer",
        )
    request = pending[0]
    return {request["id"]: parse_answer(request["kind"], args.answer)}


def parse_answer(kind: str, text: str) -> Any:
    """A command-line answer as the request's kind needs it."""
    if kind == "confirmation":
        lowered = text.strip().lower()
        if lowered in _YES:
            return True
        if lowered in _NO:
            return False
        raise CommandError(f"a confirmation is answered yes or no, not {text!r}")
    if kind == "client_tool":
        return json_value(text, "the answer to a client tool is its result as JSON",
                          hint='e.g. --answer \'{"result": 42}\' (an object of the tool\'s '
                          'outputs)')
    return text


def _runtime(
    args: argparse.Namespace, state: RunState, store: Any, stack: contextlib.ExitStack
) -> Runtime:
    saved = state.metadata.get(METADATA_KEY)
    saved = saved if isinstance(saved, dict) else {}
    options = RuntimeOptions.saved(saved)
    options = dataclasses.replace(options, tools=args.tools or options.tools,
                                  registry=args.registry or options.registry,
                                  allowed_components=args.allowed_components or (),
                                  blocked_components=args.blocked_components or ())
    # Started with --fake-llm: a test LLM server again, never the config's URL.
    fake_url = stack.enter_context(fake_llm_url(bool(saved.get("fake_llm"))))
    served = stack.enter_context(local_llm(bool(saved.get("local_llm")) and fake_url is None))
    runtime = build_runtime(options, store, llm_url=fake_url, served=served)
    config = saved.get("config")
    if isinstance(config, str):
        take_secrets(runtime, state, config, lambda: runtime.load(Path(config)))
    return runtime


def _waiting_result(state: RunState) -> RunResult:
    return RunResult(
        "waiting", {}, list(state.messages), run_id=state.run_id,
        pending=[PendingRequest.from_state(item) for item in state.pending],
    )
