"""``loom chat CONFIG [--tools FILE.py] [--llm-url URL] [--run-id ID] [--trace FILE] ...``

Talk to an agent (an Agent, a Swarm, a ManagerWorkers...) in the terminal: its
answers are printed as the tokens arrive, its tool calls as they happen. The
session is a run that waits for your next message between turns, checkpointed
in the store (``--store``): leave with ``/exit`` or Ctrl-D, and ``loom chat
CONFIG --run-id ID`` continues it, in this process or another one. Client tools
and confirmations are asked at the prompt. Exit codes: 0 the session ended or
was left, 1 the run failed, 2 the config or the command is invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from loom.cli import (
    EXIT_OK,
    EXIT_USAGE,
    add_registry_option,
    collected_warnings,
    err,
    green,
    out,
    red,
    report_error,
    show_warnings,
    yellow,
)
from loom.cli.run import add_local_option, local_llm
from loom.cli.setup import (
    RuntimeOptions,
    add_policy_options,
    json_error,
    positive_int,
    prepare,
    take_secrets,
)
from loom.cli.waiting import add_store_options, cli_metadata, store_from
from loom.errors import CheckpointError, LoomError, RunNotFound
from loom.llm import LlmOverrides
from loom.local import TOOLS_CHAT_FORMAT
from loom.observability.run_options import add_trace_options, observing
from loom.runtime import Runtime
from loom.runtime.events import RuntimeEvent
from loom.runtime.journal import PendingRequest
from loom.runtime.result import RunResult
from loom.spec.flows.flow import Flow

EXIT_FAILED = 1
LEAVE = ("/exit", "/quit")
MAX_SHOWN = 300


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "chat",
        help="talk to an agent in the terminal",
        description="Talk to an agent: answers stream as they arrive, tool calls are shown "
        "as they happen. Leave with /exit or Ctrl-D; --run-id ID continues the session.",
    )
    parser.add_argument("config", help="the agent (.json, .yaml or .yml)")
    parser.add_argument("--tools", metavar="FILE.py", action="append", default=[],
                        help="Python file whose top-level functions implement ServerTools "
                        "(by name); repeatable")
    parser.add_argument("-i", "--input", metavar="NAME=VALUE", action="append", default=[],
                        help="an input of the agent (its system prompt's placeholders)")
    parser.add_argument("--inputs-json", metavar="JSON", help="the inputs as a JSON object")
    parser.add_argument("--llm-url", help="send every LLM call to this OpenAI-compatible URL")
    parser.add_argument("--llm-model", help="use this model name for every LLM call")
    add_local_option(parser)
    parser.add_argument("--run-id", metavar="ID",
                        help="continue this session (or start one with this id)")
    parser.add_argument("--max-iterations", type=positive_int, default=None,
                        help="LLM calls an agent may make per message (default 10)")
    add_store_options(parser)
    add_registry_option(parser)
    add_policy_options(parser)
    add_trace_options(parser)
    parser.set_defaults(handler=chat_command)


def chat_command(args: argparse.Namespace) -> int:
    with local_llm(args.local_llm, TOOLS_CHAT_FORMAT) as served:  # agents call tools
        return _chat(args, served)


def _chat(args: argparse.Namespace, served: LlmOverrides | None) -> int:
    with collected_warnings() as warned:
        try:
            prepared = prepare(RuntimeOptions.from_args(args), args.config,
                               lambda: store_from(args), inputs=args.input,
                               inputs_json=args.inputs_json, served=served)
        except LoomError as exc:
            show_warnings(warned)
            report_error(exc)
            return EXIT_USAGE
    show_warnings(warned)
    flow, runtime, inputs = prepared.flow, prepared.runtime, prepared.inputs
    printer = ChatPrinter()
    runtime.listeners.append(printer)
    try:
        with observing(args, flow, runtime, live=False):  # the printer shows the session
            result = _start(args, runtime, flow, inputs, printer)
            if result is None:
                return EXIT_USAGE
            result = _talk(args, runtime, result, printer)
    except LoomError as exc:
        printer.end_line()
        report_error(exc)
        return EXIT_USAGE
    finally:
        runtime.close()
        runtime.store.close()
    return _report(args, result, printer)


def _start(args: argparse.Namespace, runtime: Runtime, flow: Flow, inputs: dict[str, Any],
           printer: ChatPrinter) -> RunResult | None:
    if args.run_id:
        try:
            state = runtime.store.load(args.run_id)
        except RunNotFound:
            pass
        else:
            if state.status in ("finished", "failed"):
                report_error(CheckpointError(
                    f"session '{args.run_id}' already {state.status}",
                    hint=f"see it with `loom runs show {args.run_id}`, or start a new one",
                ))
                return None
            take_secrets(runtime, state, args.config, lambda: flow)
            out(Text(f"continuing session {args.run_id}", style="dim"))
            printer.history(state.messages)
            return RunResult(
                "waiting", {}, list(state.messages), run_id=state.run_id,
                pending=[PendingRequest.from_state(item) for item in state.pending],
            )
    out(Text(f"talking to {flow.name} (/exit or Ctrl-D to leave)", style="dim"))
    return runtime.run(flow, inputs, run_id=args.run_id, metadata=cli_metadata(args))


def _talk(args: argparse.Namespace, runtime: Runtime, result: RunResult,
          printer: ChatPrinter) -> RunResult:
    while result.status == "waiting" and result.run_id:
        printer.end_line()
        answers: dict[str, Any] = {}
        for request in result.pending:
            answer = _ask(request)
            if answer is _LEFT:
                out(yellow("left"), f" the session; continue it with: loom chat {args.config} "
                    f"--run-id {result.run_id}")
                return result
            answers[request.id] = answer
        result = runtime.resume(result.run_id, answers)
    printer.end_line()
    return result


_LEFT: Any = object()


def _read(prompt: str) -> str:
    text = input(prompt)
    if not sys.stdin.isatty():
        print(text)  # piped input: show what was read, as a terminal would
    return text


def _ask(request: PendingRequest) -> Any:
    try:
        if request.kind == "input":
            text = _read("you> ")
            return _LEFT if text.strip() in LEAVE else text
        if request.kind == "confirmation":
            question = request.prompt or f"Run {_call(request.tool_call)}?"
            while True:
                text = _read(f"{question} [y/n] ").strip().lower()
                if text in LEAVE:
                    return _LEFT
                if text in ("y", "yes"):
                    return True
                if text in ("n", "no"):
                    return False
        while True:
            text = _read(f"result of {_call(request.tool_call)} (JSON)> ")
            if text.strip() in LEAVE:
                return _LEFT
            try:
                return json.loads(text)
            except ValueError as exc:  # a 5,000-digit number too
                err(red("not JSON: "), f"{json_error(exc)}; try again, e.g. {{\"result\": 1}}")
    except EOFError:
        print()
        return _LEFT


def _call(call: dict[str, Any] | None) -> str:
    if not call:
        return "the client tool"
    arguments = json.dumps(call.get("arguments", {}), ensure_ascii=False, default=str)
    return f"{call.get('name')}({arguments})"


def _report(args: argparse.Namespace, result: RunResult, printer: ChatPrinter) -> int:
    if result.status == "waiting":
        return EXIT_OK
    if result.status == "failed":
        error = result.error
        out(red("failed"), f" at {error.node}: {error.message}" if error else "")
        return EXIT_FAILED
    out(green("finished"))
    for name, value in result.outputs.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out(f"{name}: ", text)
    return EXIT_OK


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


class ChatPrinter:
    """A run listener that prints an agent's turns as they happen: streamed
    tokens (prefixed by the speaking agent), tool calls and their results."""

    def __init__(self) -> None:
        self.console = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)
        self.speaker: tuple[str, ...] | None = None

    def __call__(self, event: RuntimeEvent) -> None:
        kind = event.type
        if kind == "llm_token":
            token = str(event.data.get("token") or "")
            if not token:
                return
            if self.speaker != event.path:
                self.end_line()
                self.console.print(Text(f"{event.path[-1]}: ", style="bold cyan"), end="")
                self.speaker = event.path
            self.console.print(token, end="")
            self.console.file.flush()
        elif kind == "tool_start":
            self.end_line()
            tool = event.data.get("tool")
            arguments = json.dumps(event.data.get("inputs", {}), ensure_ascii=False, default=str)
            self.console.print(Text(f"  -> {getattr(tool, 'name', tool)}({_short(arguments)})",
                                    style="magenta"))
        elif kind == "tool_end":
            tool = getattr(event.data.get("tool"), "name", "tool")
            if "error" in event.data:
                self.console.print(Text(f"  <- {tool} failed: {event.data['error']}",
                                        style="red"))
            else:
                result = event.data.get("outputs")
                text = result if isinstance(result, str) else json.dumps(result, default=str)
                self.console.print(Text(f"  <- {tool}: {_short(text)}", style="magenta"))

    def end_line(self) -> None:
        if self.speaker is not None:
            self.console.print()
            self.speaker = None

    def history(self, messages: list[dict[str, Any]]) -> None:
        """Print a session's conversation so far (when it is continued)."""
        for message in messages:
            role = message.get("role")
            content = str(message.get("content") or "")
            if role == "user":
                self.console.print(Text(f"you> {content}"))
            elif role == "assistant":
                for call in message.get("tool_calls") or ():
                    function = call.get("function") or {}
                    self.console.print(Text(
                        f"  -> {function.get('name')}({_short(function.get('arguments', ''))})",
                        style="magenta"))
                if content:
                    speaker = message.get("agent") or message.get("node") or "assistant"
                    self.console.print(Text.assemble((f"{speaker}: ", "bold cyan"), content))
            elif role == "tool":
                self.console.print(Text(f"  <- {message.get('name', 'tool')}: "
                                        f"{_short(content)}", style="magenta"))
        sys.stdout.flush()
