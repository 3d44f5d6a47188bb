"""``loom run CONFIG [--tools FILE.py] [-i NAME=VALUE]... [--json] ...``

Runs a flow and prints its outputs and messages. Exit codes: 0 the flow
finished, 1 it failed, 2 the config or the command is invalid, 3 it waits (for
an answer, a client tool's result or a confirmation: see ``loom resume``). On a
terminal, the questions of a waiting run are asked at the prompt instead.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from loom.cli import (
    EXIT_USAGE,
    add_registry_option,
    collected_warnings,
    err,
    read_registries,
    report_error,
    show_warnings,
    yellow,
)
from loom.cli.waiting import (
    add_store_options,
    answer_at_terminal,
    cli_metadata,
    exit_code,
    fail_json,
    interactive,
    print_json,
    print_result,
    store_from,
)
from loom.errors import LoomError
from loom.observability.run_options import add_observe_options, observing
from loom.runtime import Runtime
from loom.spec.flows.flow import Flow
from loom.spec.property import Property
from loom.spec.tools import ServerTool
from loom.spec.walk import walk

EXIT_FAILED = 1


class CommandError(LoomError):
    """The command line itself is wrong (bad -i value, unreadable tools file)."""


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
    parser.add_argument("--max-concurrency", type=int, default=1024,
                        help="bound on parallel branches in flight (default 1024)")
    parser.add_argument("--inline-tools", action="store_true",
                        help="run sync tools on the event loop instead of worker threads "
                        "(faster for quick tools; never for tools that block)")
    parser.add_argument("--branch-timeout", type=float, default=None,
                        help="seconds a parallel branch may run (default: no limit)")
    parser.add_argument("--run-id", metavar="ID", help="the run's id (default: a new uuid)")
    parser.add_argument("--checkpoint", choices=("waits", "nodes"), default="waits",
                        help="checkpoint at waits only (default), or after every node so "
                        "that a killed run resumes where it stopped")
    add_store_options(parser)
    add_registry_option(parser)
    add_observe_options(parser)
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    with collected_warnings() as warned:
        try:
            flow, runtime, inputs = _prepare(args)
        except LoomError as exc:
            show_warnings(warned)
            _fail(args, exc)
            return EXIT_USAGE
    show_warnings(warned)
    try:
        with _llm_server(args) as fake_url, observing(args, flow, runtime):
            if fake_url is not None:
                runtime.services.llm_overrides["url"] = fake_url
                if not args.json:
                    err(yellow("no LLM configured: using loom's built-in test LLM server at "
                               f"{fake_url} (answers are canned, not real model output)"))
            started = time.perf_counter()
            result = runtime.run(flow, inputs, run_id=args.run_id, metadata=cli_metadata(args))
            if interactive(args):
                result = answer_at_terminal(result, runtime.resume)
            elapsed = time.perf_counter() - started
    except LoomError as exc:  # a run id in use, an unwritable trace file, a broken store
        _fail(args, exc)
        return EXIT_USAGE
    finally:
        runtime.close()
        runtime.store.close()
    if args.json:
        print_json(result)
    else:
        print_result(result, elapsed)
    return exit_code(result)


def _prepare(args: argparse.Namespace) -> tuple[Flow, Runtime, dict[str, Any]]:
    registry = read_registries(args.registry)
    tools = _load_tools(args.tools)
    llm = {"url": args.llm_url, "model": args.llm_model}
    runtime = Runtime(
        tools=tools,
        llm={k: v for k, v in llm.items() if v},
        max_concurrency=args.max_concurrency,
        branch_timeout=args.branch_timeout,
        registry=registry,
        inline_tools=args.inline_tools,
        store=store_from(args),
        checkpoint=args.checkpoint,
    )
    flow = runtime.load(Path(args.config))
    server_tools = {c.name for c in walk(flow) if isinstance(c, ServerTool)}
    runtime.services.tools = {
        name: bound for name, bound in runtime.services.tools.items() if name in server_tools
    }
    inputs = _parse_inputs(flow, args.input, args.inputs_json)
    runtime.compile(flow)
    return flow, runtime, inputs


def _load_tools(paths: list[str]) -> dict[str, Callable[..., Any]]:
    tools: dict[str, Callable[..., Any]] = {}
    for index, path in enumerate(paths):
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"tools file not found: {file}")
        spec = importlib.util.spec_from_file_location(f"loom_user_tools_{index}", file)
        if spec is None or spec.loader is None:
            raise CommandError(f"cannot import {file} as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise CommandError(
                f"importing tools file {file} failed: {type(exc).__name__}: {exc}",
                hint="fix the error in that file",
            ) from None
        for name, value in vars(module).items():
            if callable(value) and not name.startswith("_") and not isinstance(value, type):
                if getattr(value, "__module__", None) == spec.name:
                    tools[name] = value
    return tools


def _parse_inputs(flow: Flow, pairs: list[str], raw_json: str | None) -> dict[str, Any]:
    declared = {prop.title: prop for prop in flow.inputs or []}
    inputs: dict[str, Any] = {}
    if raw_json:
        try:
            parsed = json.loads(raw_json)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--inputs-json is not valid JSON: {exc.msg}") from None
        if not isinstance(parsed, dict):
            raise CommandError("--inputs-json must be a JSON object")
        inputs.update(parsed)
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise CommandError(f"-i expects NAME=VALUE, got {pair!r}")
        prop = declared.get(name)
        if prop is None:
            raise CommandError(
                f"flow '{flow.name}' has no input '{name}'",
                hint=f"its inputs are {sorted(declared)}",
            )
        inputs[name] = parse_value(prop, text)
    return inputs


def parse_value(prop: Property, text: str) -> Any:
    """Read a command-line value as the input's declared type."""
    kind = prop.json_schema.get("type")
    try:
        if kind == "string":
            return text
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind == "boolean":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError(text)
        return json.loads(text)
    except ValueError:
        if kind is None:
            return text
        raise CommandError(
            f"input '{prop.title}' is declared {kind}, but {text!r} is not one",
            hint=f"give a {kind} value, e.g. -i {prop.title}=...",
        ) from None


@contextlib.contextmanager
def _llm_server(args: argparse.Namespace) -> Iterator[str | None]:
    if not args.fake_llm:
        yield None
        return
    from loom.testing import FakeLlmServer

    with FakeLlmServer() as server:
        yield server.url


def _fail(args: argparse.Namespace, exc: LoomError) -> None:
    if args.json:
        fail_json(exc)
    report_error(exc)
