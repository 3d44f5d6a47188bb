"""What ``loom run`` and ``loom resume`` share about runs that wait.

On a terminal (stdin and stdout are TTYs, no ``--json``) each pending request is
asked at the prompt and the run resumes in the same process; otherwise the
command prints the waiting status and exits with :data:`EXIT_WAITING`. The
options and tools a run was started with are kept in its metadata (under
``"cli"``), so ``loom resume`` in another process can set the same runtime up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.prompt import Confirm, Prompt
from rich.text import Text

from loom.cli import err, green, out, red, yellow
from loom.cli.setup import json_error
from loom.errors import LoomError
from loom.runs import RunState, json_text
from loom.runtime.journal import PendingRequest
from loom.runtime.result import RunResult
from loom.stores import CheckpointStore, MemoryStore, RunSummary, store_opener

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_WAITING = 3
EXIT_INTERRUPTED = 130
METADATA_KEY = "cli"


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", metavar="URL", default=None,
        help="where runs are checkpointed: sqlite:///path, postgresql://user@host/db or "
        "memory: (default: $LOOM_STORE, else ~/.local/share/loom/runs.sqlite3)",
    )


def store_from(args: argparse.Namespace, lazy: bool = True) -> CheckpointStore:
    """The ``--store`` of the command. The URL is checked now; a lazy store is
    opened when first used, so a run that never checkpoints never touches it."""
    opener = store_opener(getattr(args, "store", None))
    if opener is MemoryStore:
        return MemoryStore()
    return LazyStore(opener) if lazy else opener()


class LazyStore:
    """A store opened on first use."""

    def __init__(self, opener: Callable[[], CheckpointStore]) -> None:
        self._opener = opener
        self._store: CheckpointStore | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> CheckpointStore:
        with self._lock:
            if self._store is None:
                self._store = self._opener()
            return self._store

    def save(self, state: RunState) -> None:
        self.store.save(state)

    def load(self, run_id: str) -> RunState:
        return self.store.load(run_id)

    def claim(self, run_id: str, owner: str) -> RunState:
        return self.store.claim(run_id, owner)

    def release(self, run_id: str, owner: str) -> None:
        self.store.release(run_id, owner)

    def renew(self, run_id: str, owner: str) -> bool:
        return self.store.renew(run_id, owner)

    @property
    def lease_timeout(self) -> float:
        return self.store.lease_timeout

    def list(self) -> list[RunSummary]:
        return self.store.list()

    def delete(self, run_id: str, owner: str | None = None) -> bool:
        return self.store.delete(run_id, owner)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def exit_code(result: RunResult) -> int:
    return {"finished": EXIT_OK, "waiting": EXIT_WAITING}.get(result.status, EXIT_FAILED)


def interactive(args: argparse.Namespace) -> bool:
    """Ask pending questions at the terminal? Only on a TTY and without --json."""
    return not getattr(args, "json", False) and sys.stdin.isatty() and sys.stdout.isatty()


def cli_metadata(args: argparse.Namespace) -> dict[str, Any]:
    """What ``loom resume`` needs to set the runtime up again (paths made absolute)."""
    data: dict[str, Any] = {
        "tools": [str(Path(p).resolve()) for p in getattr(args, "tools", None) or []],
        "registry": [str(Path(p).resolve()) for p in getattr(args, "registry", None) or []],
        "checkpoint": getattr(args, "checkpoint", "waits"),
    }
    if getattr(args, "config", None):  # where resume finds the secrets a checkpoint leaves out
        data["config"] = str(Path(args.config).resolve())
    for name in ("llm_url", "llm_model", "max_concurrency", "branch_timeout", "inline_tools",
                 "fake_llm", "local_llm"):
        value = getattr(args, name, None)
        if value is not None:
            data[name] = value
    return {METADATA_KEY: data}


def answer_at_terminal(
    result: RunResult, resume: Callable[[str, dict[str, Any]], RunResult]
) -> RunResult:
    """Ask each pending request at the terminal and resume, until the run stops
    waiting or stdin ends (then it stays waiting in the store)."""
    while result.status == "waiting" and result.run_id:
        try:
            answers = ask(result.pending)
        except EOFError:
            err(yellow("no answer (end of input): the run stays waiting"))
            return result
        result = resume(result.run_id, answers)
    return result


def ask(pending: Sequence[PendingRequest]) -> dict[str, Any]:
    console = Console(highlight=False, emoji=False, markup=False, soft_wrap=True)
    answers: dict[str, Any] = {}
    for request in pending:
        console.print(Text.assemble(("waiting", "yellow"), f" at {request.node}"))
        if request.kind == "confirmation":
            question = request.prompt or f"Run {describe_call(request.tool_call)}?"
            answers[request.id] = Confirm.ask(Text(question), console=console)
        elif request.kind == "client_tool":
            answers[request.id] = _ask_json(console, request)
        else:
            answers[request.id] = Prompt.ask(Text(request.prompt or "Your answer"),
                                             console=console)
    return answers


def _ask_json(console: Console, request: PendingRequest) -> Any:
    question = Text(f"Result of {describe_call(request.tool_call)} (JSON)")
    while True:
        text = Prompt.ask(question, console=console)
        try:
            return json.loads(text)
        except ValueError as exc:  # a 5,000-digit number too
            console.print(Text(f"not JSON ({json_error(exc)}); try again, e.g. {{\"result\": 1}}",
                               style="red"))


def describe_call(call: dict[str, Any] | None) -> str:
    if not call:
        return "the client tool"
    arguments = json.dumps(call.get("arguments", {}), ensure_ascii=False, default=str)
    return f"tool '{call.get('name')}' with {arguments}"


@contextlib.contextmanager
def json_stdout(args: argparse.Namespace) -> Iterator[TextIO]:
    """Yield the stream the one JSON object goes to. Under ``--json`` whatever else
    is printed to stdout inside the block (tools, tools files) goes to stderr."""
    stdout = sys.stdout
    if not getattr(args, "json", False):
        yield stdout
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield stdout


def print_json(result: RunResult, file: TextIO | None = None) -> None:
    print(json_text(result.to_dict()), file=file)


def cancelled_json(run_id: str | None, file: TextIO | None = None) -> None:
    """The ``--json`` answer of a run stopped by SIGINT (Ctrl-C)."""
    payload: dict[str, Any] = {
        "status": "cancelled", "run_id": run_id, "outputs": {}, "messages": [],
        "error": {"node": None, "message": "interrupted (SIGINT)"},
    }
    print(json_text(payload), file=file)


def print_waiting(result: RunResult) -> None:
    count = len(result.pending)
    out(yellow("waiting"), f" run {result.run_id}: {count} pending request"
        + ("s" if count != 1 else ""))
    for request in result.pending:
        detail = request.prompt or ""
        if request.kind == "client_tool":
            detail = describe_call(request.tool_call)
        out(f"  {request.id} ", Text(request.kind, style="bold"), f" at {request.node}",
            f": {detail}" if detail else "")
    if count == 1:
        out(f"answer with: loom resume {result.run_id} --answer TEXT")
    else:
        out(f"answer with: loom resume {result.run_id} --answers-json "
            "'{\"<id>\": <answer>, ...}'")


def print_result(result: RunResult, elapsed: float | None = None) -> None:
    """The human form of a result: status line, outputs, conversation."""
    if result.status == "finished":
        timing = f" in {elapsed:.2f} s" if elapsed is not None else ""
        out(green("finished"), timing)
    elif result.status == "waiting":
        print_waiting(result)
    else:
        error = result.error
        out(red("failed"), f" at {error.node}: {error.message}" if error else "")
    for name, value in result.outputs.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out(f"{name}: ", text)
    for message in result.messages:
        out(f"[{message.get('role', 'message')}] ", str(message.get("content", "")))


def fail_json(exc: LoomError, file: TextIO | None = None) -> None:
    payload = {
        "status": "failed",
        "outputs": {},
        "messages": [],
        "error": {"node": getattr(exc, "node", None) or None, "message": exc.describe()},
    }
    print(json_text(payload), file=file)
