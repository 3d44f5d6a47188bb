"""The README as a newcomer reads it: every Python block runs, every command it
shows exists with the options it shows.

A Python block runs in a temporary directory. The HTML comment on the line
before it, ``<!-- readme-test: NAME -->``, names the block: :data:`CASES` says
what it starts from (the names a block continues from earlier sections, such as
``flow`` and ``tools``) and what must hold after it. A block without a comment
runs alone, in an empty namespace. A block that is only illustrative is marked
``python title="sketch"`` and is listed in :data:`SKETCHES`. Top-level ``await``
and ``async for`` run in an event loop.

Every ``loom <command> ...`` line (in any fenced block, or as inline code) is
checked against ``loom <command> --help``: the command exists and has each
option shown. So are ``python -m loom...`` lines and the benchmark commands
(their options, and ``--quick``'s time as ``--help`` gives it).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import os
import re
import runpy
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.cli import SUBCOMMANDS, main
from loom.spec import (
    ControlFlowEdge,
    DataFlowEdge,
    EndNode,
    Flow,
    InputMessageNode,
    StartNode,
    StringProperty,
)
from loom.testing import FakeLlmServer

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLE = ROOT / "examples" / "parallel_marketing"

# The first line of each block marked ``title="sketch"`` (illustrative, not run).
SKETCHES: tuple[str, ...] = ()


@dataclass(frozen=True)
class Block:
    lang: str
    info: str
    text: str
    line: int  # of the opening fence
    name: str | None  # from <!-- readme-test: NAME -->

    @property
    def sketch(self) -> bool:
        return 'title="sketch"' in self.info

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0] if self.text else ""


_FENCE = re.compile(r"^```(\w*)(.*)$")
_NAME = re.compile(r"^<!-- readme-test: ([\w-]+) -->$")


def readme_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    opened: tuple[int, str, str, str | None] | None = None
    body: list[str] = []
    for number, line in enumerate(lines, 1):
        if opened is None:
            fence = _FENCE.match(line)
            if fence:
                named = _NAME.match(lines[number - 2]) if number >= 2 else None
                opened = (number, fence.group(1), fence.group(2).strip(),
                          named.group(1) if named else None)
                body = []
        elif line.startswith("```"):
            start, lang, info, name = opened
            blocks.append(Block(lang, info, "\n".join(body) + "\n", start, name))
            opened = None
        else:
            body.append(line)
    assert opened is None, f"README.md:{opened[0]}: a fenced block is never closed"
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
PYTHON = [b for b in BLOCKS if b.lang == "python"]


# --- what the Python blocks start from ---------------------------------------------------


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The names the README's later sections use: the example ``flow``, its ``tools``
    and ``inputs``, a ``runtime``, with the test LLM server standing in for the model."""
    monkeypatch.setenv("LOOM_EXAMPLE_TOOL_DELAY", "0")
    for name in ("LOOM_LLM_MODEL", "LOOM_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with FakeLlmServer() as server:
        monkeypatch.setenv("LOOM_LLM_URL", server.url)
        tools = runpy.run_path(str(EXAMPLE / "tools.py"))
        with loom.Runtime(tools=tools) as runtime:
            yield {
                "loom": loom,
                "flow": loom.load(EXAMPLE / "flow.json"),
                "tools": tools,
                "inputs": {"username": "alice"},
                "runtime": runtime,
            }


def waiting_flow() -> Flow:
    """A flow that asks its user one question (``username`` in, ``answer`` out)."""
    username, answer = StringProperty(title="username"), StringProperty(title="answer")
    start = StartNode(name="start", inputs=[username])
    ask = InputMessageNode(name="ask", message="{{username}}, what may I do for you?",
                           outputs=[answer])
    end = EndNode(name="end", outputs=[answer])
    return Flow(
        name="asking", start_node=start, nodes=[start, ask, end],
        control_flow_connections=[ControlFlowEdge(name="a", from_node=start, to_node=ask),
                                  ControlFlowEdge(name="b", from_node=ask, to_node=end)],
        data_flow_connections=[
            DataFlowEdge(name="u", source_node=start, source_output="username",
                         destination_node=ask, destination_input="username"),
            DataFlowEdge(name="d", source_node=ask, source_output="answer",
                         destination_node=end, destination_input="answer"),
        ],
    )


def _waiting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    return {"loom": loom, "flow": waiting_flow(), "tools": {},
            "ask_someone": lambda request: f"answered: {request.prompt}"}


def _repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("LOOM_EXAMPLE_TOOL_DELAY", "0")
    monkeypatch.chdir(ROOT)  # the block names the example by its path in the repository
    return {}


def _finished(ns: dict[str, Any], name: str = "result") -> Any:
    result = ns[name]
    assert result.status == "finished", result.error
    return result


@dataclass(frozen=True)
class Case:
    """How a named block runs: ``example`` (the fixture above) or a setup of its
    own, then ``check`` on its namespace, its stdout and its directory."""

    check: Callable[[dict[str, Any], str, Path], None]
    example: bool = False
    setup: Callable[[Path, pytest.MonkeyPatch], dict[str, Any]] | None = None
    expected_in_stdout: list[str] = field(default_factory=list)


def _check_api(ns: dict[str, Any], out: str, place: Path) -> None:
    assert _finished(ns).outputs == {"greeting": "Hello, alice!"}
    assert out.splitlines()[:2] == ["finished", "{'greeting': 'Hello, alice!'}"]
    assert loom.load(place / "flow.json").name == "greeting_flow"
    assert "component_type: Flow" in ns["text"]


def _check_repository(ns: dict[str, Any], out: str, place: Path) -> None:
    assert out.startswith("finished fake answer to:")  # the test server's canned text


def _check_listeners(ns: dict[str, Any], out: str, place: Path) -> None:
    assert "RuntimeEvent(" in out  # print, the runtime's listener
    assert [span.name for span in ns["spans"].by_type("FlowExecutionSpan")][0] == \
        "marketing_message_flow"


def _check_stream(ns: dict[str, Any], out: str, place: Path) -> None:
    assert ns["stream"].result.status == "finished"
    assert out.startswith("fake answer to:")  # the tokens, then the outputs


def _check_otel(ns: dict[str, Any], out: str, place: Path) -> None:
    assert ns["runtime"].run(ns["flow"], ns["inputs"]).status == "finished"


def _check_trace(ns: dict[str, Any], out: str, place: Path) -> None:
    types = {span.type for span in ns["spans"]}
    assert {"FlowExecutionSpan", "ToolExecutionSpan", "LlmGenerationSpan"} <= types
    assert (place / "run.jsonl").stat().st_size > 0


def _check_waiting(ns: dict[str, Any], out: str, place: Path) -> None:
    result = _finished(ns)
    assert result.run_id == "order-42"
    assert result.outputs == {"answer": "answered: alice, what may I do for you?"}
    assert (place / "runs.sqlite3").exists()


CASES: dict[str, Case] = {
    "api": Case(_check_api),
    "repository": Case(_check_repository, setup=_repository),
    "listeners": Case(_check_listeners, example=True),
    "stream": Case(_check_stream, example=True),
    "otel": Case(_check_otel, example=True),
    "trace": Case(_check_trace, example=True),
    "waiting": Case(_check_waiting, setup=_waiting),
}


def _execute(block: Block, namespace: dict[str, Any]) -> None:
    code = compile(block.text, f"README.md:{block.line}", "exec",
                   flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    outcome = eval(code, namespace)  # a coroutine when the block awaits
    if inspect.iscoroutine(outcome):
        asyncio.run(outcome)


@pytest.mark.parametrize("block", [b for b in PYTHON if not b.sketch],
                         ids=lambda b: f"line{b.line}-{b.name or 'alone'}")
def test_python_block_runs(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest,
) -> None:
    monkeypatch.chdir(tmp_path)
    case = CASES.get(block.name or "")
    assert block.name is None or case is not None, f"no case for block {block.name!r}"
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    if case is not None and case.example:
        namespace.update(request.getfixturevalue("example"))
    if case is not None and case.setup is not None:
        namespace.update(case.setup(tmp_path, monkeypatch))
    _execute(block, namespace)
    out = capsys.readouterr().out
    if case is not None:
        case.check(namespace, out, tmp_path)


def test_every_case_names_a_block_once() -> None:
    names = [b.name for b in PYTHON if b.name]
    assert sorted(names) == sorted(CASES), "CASES and the README's named blocks differ"


def test_sketches_are_marked_and_counted() -> None:
    sketches = tuple(b.first_line for b in PYTHON if b.sketch)
    assert sketches == SKETCHES
    assert len(PYTHON) - len(sketches) >= 8  # all the others run


# --- the commands shown -------------------------------------------------------------------

_OPTION = re.compile(r"(?<![\w/.\-])(--?[A-Za-z][\w-]*)")
_RUNS_ACTIONS = ("list", "show", "delete", "cancel")


def _inline_code(text: str) -> list[str]:
    outside_fences = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return [" ".join(code.split()) for code in re.findall(r"`([^`]+)`", outside_fences)]


def command_lines(text: str) -> list[str]:
    """Each command of the README: fenced lines (a line indented under a command
    continues it, as in the synopses) and inline code, split at ``&&``."""
    lines: list[str] = []
    for block in BLOCKS:
        if block.lang == "python":
            continue
        for raw in block.text.splitlines():
            if raw[:1].isspace() and lines and raw.strip().startswith("["):
                lines[-1] += " " + raw.strip()
            elif raw.strip():
                lines.append(raw.strip())
    lines.extend(_inline_code(text))
    commands = []
    for line in lines:
        for part in line.split("&&"):
            commands.append(part.strip())
    return commands


def _help(*argv: str) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main([*argv, "--help"]) == 0
    return buffer.getvalue()


def _without_comment(command: str) -> str:
    return re.split(r"\s#\s", command, maxsplit=1)[0]


def loom_commands() -> list[str]:
    return [c for c in command_lines(README.read_text(encoding="utf-8"))
            if c.startswith("loom ") and re.fullmatch(r"[a-z][a-z/]*", c.split()[1])]


def test_the_readme_shows_the_commands() -> None:
    shown = {c.split()[1].split("/")[0] for c in loom_commands()}
    assert shown == set(SUBCOMMANDS)  # every command appears, and nothing else


@pytest.mark.parametrize("command", loom_commands())
def test_loom_command_options_exist(command: str) -> None:
    words = _without_comment(command).split()
    names = words[1].split("/")  # `loom run/resume --trace`
    options = set(_OPTION.findall(" ".join(words[2:])))
    for name in names:
        assert name in SUBCOMMANDS, f"`loom {name}` is not a command"
        targets = [(name,)]
        if name == "runs":
            actions = [a for a in _RUNS_ACTIONS if re.search(rf"\b{a}\b", command)]
            assert actions, f"`{command}` names no action of `loom runs`"
            targets = [(name, action) for action in actions]
        for argv in targets:
            known = set(_OPTION.findall(_help(*argv)))
            missing = sorted(options - known)
            assert not missing, f"`loom {' '.join(argv)}` has no option {missing}: `{command}`"


def _script_help(argv: list[str]) -> str:
    done = subprocess.run([sys.executable, *argv, "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return done.stdout


def _python_commands() -> list[str]:
    return [c for c in command_lines(README.read_text(encoding="utf-8"))
            if c.startswith((".venv/bin/python ", "python -m loom")) and "pip install" not in c]


@pytest.mark.parametrize("command", _python_commands())
def test_script_options_exist(command: str) -> None:
    words = command.split()
    argv = words[1:3] if words[1] == "-m" else words[1:2]
    if words[1] != "-m":
        assert (ROOT / argv[0]).is_file(), f"{argv[0]} does not exist"
    shown = set(_OPTION.findall(" ".join(words[len(argv) + 1:])))
    if not shown:
        return
    text = _script_help(argv)
    assert shown <= set(_OPTION.findall(text)), f"{argv}: {shown} not all in --help"
    for option, duration in re.findall(r"\((--[\w-]+): (~[\d.]+ min)\)", command):
        line = next(line for line in text.splitlines() if line.strip().startswith(option))
        assert f"({duration})" in line, f"README says {option} takes {duration}; --help: {line}"


def test_scripts_shown_exist() -> None:
    shown = {c.split()[0] for c in command_lines(README.read_text(encoding="utf-8"))
             if c.startswith("./scripts/")}
    assert shown >= {"./scripts/demo", "./scripts/test"}
    for script in shown:
        assert os.access(ROOT / script, os.X_OK), f"{script} is not an executable file"
