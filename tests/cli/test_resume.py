"""``loom run`` when a flow waits, ``loom resume`` and ``loom runs``.

In-process through ``main()`` where that suffices; the installed command in a
subprocess for SIGKILL, and in a pseudo-terminal for the questions asked at the
prompt.
"""

from __future__ import annotations

import itertools
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.cli import main
from loom.spec import (
    ClientTool,
    ControlFlowEdge,
    EndNode,
    Flow,
    InputMessageNode,
    ParallelFlowNode,
    Property,
    ServerTool,
    StartNode,
    ToolNode,
)

LOOM_BIN = Path(sys.executable).parent / "loom"

TOOLS = '''
import os, time

def _log(name):
    with open(os.environ["LOOM_TEST_LOG"], "a") as out:
        out.write(name + "\\n")
        out.flush()

def double(x):
    _log("double")
    return x * 2

def greet(y, name):
    _log("greet")
    return f"{name}:{y}"

def delete_files(path):
    _log("delete_files")
    return 3

def step(n, label):
    _log(label)
    time.sleep(float(os.environ.get("LOOM_TEST_DELAY", "0")))
    return n + 1
'''


def prop(title: str, kind: str = "string", **extra: Any) -> Property:
    return Property(json_schema={"title": title, "type": kind, **extra})


def chain(name: str, *nodes: Any, inputs: list[Property] = (),  # type: ignore[assignment]
          outputs: list[Property] = ()) -> Flow:  # type: ignore[assignment]
    start = StartNode(name="start", inputs=list(inputs))
    end = EndNode(name="end", inputs=list(outputs))
    steps = [start, *nodes, end]
    return Flow(name=name, start_node=start, nodes=steps, control_flow_connections=[
        ControlFlowEdge(name=f"e{i}", from_node=a, to_node=b)
        for i, (a, b) in enumerate(itertools.pairwise(steps))])


def server(name: str, inputs: list[Property], outputs: list[Property], **extra: Any
           ) -> ServerTool:
    return ServerTool(name=name, inputs=inputs, outputs=outputs, **extra)


def greet_flow() -> Flow:
    return chain(
        "greeter",
        ToolNode(name="double", tool=server("double", [prop("x", "integer")],
                                            [prop("y", "integer")])),
        InputMessageNode(name="ask", message="y is {{y}}, your name?", outputs=[prop("name")]),
        ToolNode(name="greet", tool=server("greet", [prop("y", "integer"), prop("name")],
                                           [prop("greeting")])),
        inputs=[prop("x", "integer")], outputs=[prop("greeting")])


def pick_node() -> ToolNode:
    return ToolNode(name="pick", tool=ClientTool(name="pick_color", inputs=[prop("hint")],
                                                 outputs=[prop("color")]))


def confirm_node() -> ToolNode:
    return ToolNode(name="delete", tool=server("delete_files", [prop("path")],
                                               [prop("deleted", "integer")],
                                               requires_confirmation=True))


def two_asks_flow() -> Flow:
    branches = [chain(f"branch_{c}", InputMessageNode(name=f"ask_{c}", message=f"{c}?",
                                                      outputs=[prop(c)]),
                      outputs=[prop(c)]) for c in "ab"]
    return chain("two_asks", ParallelFlowNode(name="fan", subflows=branches),
                 outputs=[prop("a"), prop("b")])


def everything_flow() -> Flow:
    return chain("everything",
                 InputMessageNode(name="ask", message="Your name?", outputs=[prop("name")]),
                 pick_node(), confirm_node(),
                 inputs=[prop("hint"), prop("path")],
                 outputs=[prop("name"), prop("color"), prop("deleted", "integer")])


def counting_flow(steps: int) -> Flow:
    nodes = [ToolNode(name=f"s{i}", tool=server(
        "step", [prop("n", "integer"), prop("label", default=f"s{i}")], [prop("n", "integer")]))
        for i in range(1, steps + 1)]
    return chain("counting", *nodes, inputs=[prop("n", "integer")],
                 outputs=[prop("n", "integer")])


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tmp_path with tools.py and the flows; LOOM_STORE is a SQLite file in it."""
    (tmp_path / "tools.py").write_text(TOOLS)
    for name, flow in [("greet", greet_flow()), ("two", two_asks_flow()),
                       ("pick", chain("picker", pick_node(), inputs=[prop("hint")],
                                      outputs=[prop("color")])),
                       ("confirm", chain("confirmer", confirm_node(), inputs=[prop("path")],
                                         outputs=[prop("deleted", "integer")])),
                       ("everything", everything_flow()), ("counting", counting_flow(5))]:
        (tmp_path / f"{name}.json").write_text(loom.dumps(flow))
    monkeypatch.setenv("LOOM_STORE", f"sqlite:///{tmp_path}/runs.sqlite3")
    monkeypatch.setenv("LOOM_TEST_LOG", str(tmp_path / "calls.log"))
    monkeypatch.delenv("LOOM_LLM_URL", raising=False)
    yield tmp_path


def calls(place: Path) -> list[str]:
    log = place / "calls.log"
    return log.read_text().split() if log.exists() else []


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    text = capsys.readouterr().out
    return code, json.loads(text)


def start_greeter(place: Path, capsys: pytest.CaptureFixture[str], run_id: str = "r1") -> Any:
    code, data = run_json(capsys, "run", str(place / "greet.json"), "--tools",
                          str(place / "tools.py"), "-i", "x=4", "--run-id", run_id, "--json")
    assert code == 3, data
    return data


# --- loom run: exit code 3 and the waiting status ---------------------------------------


def test_a_waiting_run_exits_3_with_the_json_status(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = start_greeter(place, capsys)
    assert list(data) == ["status", "run_id", "outputs", "messages", "pending"]
    assert data == {
        "status": "waiting", "run_id": "r1", "outputs": {},
        "messages": [{"role": "assistant", "content": "y is 8, your name?", "node": "ask"}],
        "pending": [{"id": data["pending"][0]["id"], "kind": "input", "node": "greeter > ask",
                     "prompt": "y is 8, your name?", "tool_call": None,
                     "answer_schema": {"type": "string"}}],
    }
    assert calls(place) == ["double"]


def test_a_waiting_run_says_how_to_answer_it(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(place / "greet.json"), "--tools", str(place / "tools.py"),
                 "-i", "x=1", "--run-id", "r2"])
    out = capsys.readouterr().out
    assert code == 3
    assert "waiting run r2: 1 pending request" in out
    assert "input at greeter > ask: y is 2, your name?" in out
    assert "answer with: loom resume r2 --answer TEXT" in out


def test_a_run_id_in_use_is_refused(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    start_greeter(place, capsys)
    code = main(["run", str(place / "greet.json"), "--tools", str(place / "tools.py"),
                 "-i", "x=4", "--run-id", "r1"])
    assert code == 2
    assert "a run with id 'r1' is already in the store" in capsys.readouterr().err


# --- loom resume ---------------------------------------------------------------------------


def test_resume_with_an_answer_reloads_the_runs_tools(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start_greeter(place, capsys)
    code, data = run_json(capsys, "resume", "r1", "--answer", "Ada", "--json")
    assert code == 0, data
    assert data == {
        "status": "finished", "outputs": {"greeting": "Ada:8"},
        "messages": [{"role": "assistant", "content": "y is 8, your name?", "node": "ask"},
                     {"role": "user", "content": "Ada"}],
        "error": None,
    }
    assert calls(place) == ["double", "greet"]  # double was not run again
    code = main(["resume", "r1", "--answer", "Ada"])
    assert code == 2
    assert "run 'r1' already finished; there is nothing to resume" in capsys.readouterr().err


def test_resume_traces_the_continued_run(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    start_greeter(place, capsys)
    trace = place / "resumed.jsonl"
    code, data = run_json(capsys, "resume", "r1", "--answer", "Ada", "--json",
                          "--trace", str(trace), "--trace-content")
    assert code == 0, data
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert lines[0]["type"] == "FlowExecutionStart" and lines[-1]["type"] == "FlowExecutionEnd"
    assert lines[-1]["outputs"] == {"greeting": "Ada:8"}
    ended = {line["node"]["name"]: line["outputs"] for line in lines
             if line["type"] == "NodeExecutionEnd"}
    assert ended["ask"] == {"name": "Ada"} and ended["greet"] == {"greeting": "Ada:8"}
    assert ended["double"] == {"y": 8}  # replayed from the journal into the trace...
    assert calls(place) == ["double", "greet"]  # ...not run again


def test_an_unwritable_resume_trace_leaves_the_run_waiting(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start_greeter(place, capsys)
    code = main(["resume", "r1", "--answer", "Ada", "--trace", str(place / "no" / "t.jsonl")])
    assert code == 2
    assert "cannot write the trace file" in capsys.readouterr().err
    assert calls(place) == ["double"]
    code, data = run_json(capsys, "resume", "r1", "--answer", "Ada", "--json")
    assert code == 0 and data["outputs"] == {"greeting": "Ada:8"}


def test_resume_with_other_tools(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--tools replaces the run's tools files (every ServerTool of the flow is needed)."""
    start_greeter(place, capsys)
    other = place / "other_tools.py"
    other.write_text("def double(x):\n    return 0\n\n"
                     "def greet(y, name):\n    return f'hi {name}'\n")
    code, data = run_json(capsys, "resume", "r1", "--answer", "Bo", "--json",
                          "--tools", str(other))
    assert code == 0 and data["outputs"] == {"greeting": "hi Bo"}


def test_resume_without_an_answer_reports_the_wait(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = start_greeter(place, capsys)
    code, data = run_json(capsys, "resume", "r1", "--json")
    assert code == 3 and data == first
    assert main(["resume", "r1"]) == 3
    assert "answer with: loom resume r1 --answer TEXT" in capsys.readouterr().out


def test_answer_refuses_several_pending_requests_and_answers_json_takes_them(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = run_json(capsys, "run", str(place / "two.json"), "--run-id", "t", "--json")
    assert code == 3
    ids = [p["id"] for p in data["pending"]]
    assert [p["node"] for p in data["pending"]] == ["two_asks > fan > branch_a > ask_a",
                                                   "two_asks > fan > branch_b > ask_b"]
    assert main(["resume", "t", "--answer", "x"]) == 2
    err = capsys.readouterr().err
    assert "run 't' waits for 2 requests, and --answer answers only one" in err
    assert ids[0] in err and ids[1] in err and "--answers-json" in err
    code, data = run_json(capsys, "resume", "t", "--json", "--answers-json",
                          json.dumps({ids[1]: "B"}))
    assert code == 3 and [p["id"] for p in data["pending"]] == [ids[0]]
    code, data = run_json(capsys, "resume", "t", "--json", "--answer", "A")
    assert code == 0 and data["outputs"] == {"a": "A", "b": "B"}


@pytest.mark.parametrize("bad", ["[1]", "{nope"])
def test_bad_answers_json_is_a_usage_error(
    place: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    start_greeter(place, capsys)
    assert main(["resume", "r1", "--answers-json", bad]) == 2
    assert "--answers-json" in capsys.readouterr().err


def test_a_client_tool_is_answered_with_json(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = run_json(capsys, "run", str(place / "pick.json"), "-i", "hint=warm",
                          "--run-id", "p", "--json")
    assert code == 3
    assert data["pending"][0]["kind"] == "client_tool"
    assert data["pending"][0]["tool_call"] == {"name": "pick_color",
                                               "arguments": {"hint": "warm"}}
    assert main(["resume", "p", "--answer", "red"]) == 2  # not JSON
    assert "the answer to a client tool is its result as JSON" in capsys.readouterr().err
    code, data = run_json(capsys, "resume", "p", "--answer", '{"color": "red"}', "--json")
    assert code == 0 and data["outputs"] == {"color": "red"}


@pytest.mark.parametrize(("answer", "code", "ran"), [("yes", 0, ["delete_files"]), ("no", 1, [])])
def test_a_confirmation_is_answered_yes_or_no(
    place: Path, capsys: pytest.CaptureFixture[str], answer: str, code: int, ran: list[str]
) -> None:
    assert main(["run", str(place / "confirm.json"), "--tools", str(place / "tools.py"),
                 "-i", "path=/tmp/x", "--run-id", "c"]) == 3
    capsys.readouterr()
    assert main(["resume", "c", "--answer", "maybe"]) == 2
    assert "a confirmation is answered yes or no" in capsys.readouterr().err
    got, data = run_json(capsys, "resume", "c", "--answer", answer, "--json")
    assert got == code and calls(place) == ran
    if answer == "no":
        assert data["error"]["node"] == "confirmer > delete"
        assert "running tool 'delete_files' was refused" in data["error"]["message"]


def test_resuming_an_unknown_run_is_an_error(place: Path, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    assert main(["resume", "nope", "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "failed"
    assert "no run with id 'nope'" in captured.err


# --- loom runs -------------------------------------------------------------------------------


def test_runs_list_show_delete(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "list"]) == 0
    assert "no saved runs" in capsys.readouterr().out
    start_greeter(place, capsys, "r1")
    start_greeter(place, capsys, "r2")
    assert main(["resume", "r2", "--answer", "Cy"]) == 0
    capsys.readouterr()

    assert main(["runs", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["RUN", "ID", "STATUS", "FLOW", "PENDING", "UPDATED", "HELD", "BY"]
    assert [line.split()[:4] for line in lines[1:]] == [["r1", "waiting", "greeter", "1"],
                                                       ["r2", "finished", "greeter", "0"]]
    code, listed = run_json(capsys, "runs", "list", "--json")
    assert [(r["run_id"], r["status"]) for r in listed] == [("r1", "waiting"), ("r2", "finished")]

    assert main(["runs", "show", "r1"]) == 0
    out = capsys.readouterr().out
    assert "waiting run r1 of flow 'greeter'" in out
    assert "input at greeter > ask: y is 8, your name?" in out
    code, shown = run_json(capsys, "runs", "show", "r2", "--json")
    assert shown["outputs"] == {"greeting": "Cy:8"} and shown["steps_recorded"] == 3
    assert shown["metadata"]["cli"]["tools"] == [str(place / "tools.py")]

    assert main(["runs", "delete", "r1", "r2"]) == 0
    assert capsys.readouterr().out.splitlines() == ["deleted r1", "deleted r2"]
    assert main(["runs", "delete", "r1"]) == 1
    assert "no run with id 'r1'" in capsys.readouterr().err
    assert main(["runs", "show", "r1"]) == 1
    assert "no run with id 'r1'" in capsys.readouterr().err


def test_runs_take_a_store_option(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = f"sqlite:///{place}/other.sqlite3"
    assert main(["run", str(place / "two.json"), "--store", other, "--run-id", "o"]) == 3
    capsys.readouterr()
    assert main(["runs", "list", "--store", other]) == 0
    assert "o" in capsys.readouterr().out.split()
    assert main(["runs", "list"]) == 0
    assert "no saved runs" in capsys.readouterr().out
    assert main(["runs", "list", "--store", "nosuch://x"]) == 2  # a usage error
    assert "unknown store URL" in capsys.readouterr().err


# --- the installed command: SIGKILL, and questions at a terminal ------------------------


def env_for(place: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    env.update(LOOM_STORE=f"sqlite:///{place}/runs.sqlite3",
               LOOM_TEST_LOG=str(place / "calls.log"), **extra)
    return env


def test_loom_resume_continues_a_run_whose_process_was_killed(place: Path) -> None:
    env = env_for(place, LOOM_TEST_DELAY="0.5")
    runner = subprocess.Popen(
        [str(LOOM_BIN), "run", str(place / "counting.json"), "--tools", str(place / "tools.py"),
         "-i", "n=0", "--run-id", "k", "--checkpoint", "nodes"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(calls(place)) < 3:  # s1, s2 done and saved; s3 under way
        assert time.monotonic() < deadline and runner.poll() is None, runner.communicate()
        time.sleep(0.01)
    runner.send_signal(signal.SIGKILL)
    runner.communicate(timeout=10)

    listed = subprocess.run([str(LOOM_BIN), "runs", "list", "--json"], env=env,
                            capture_output=True, text=True, timeout=60)
    [summary] = json.loads(listed.stdout)
    assert summary["status"] == "running" and f":{runner.pid}:" in summary["owner"]

    resumed = subprocess.run([str(LOOM_BIN), "resume", "k", "--json"],
                             env=env_for(place), capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["outputs"] == {"n": 5}
    assert Counter(calls(place)) == {"s1": 1, "s2": 1, "s3": 2, "s4": 1, "s5": 1}


class Terminal:
    """The installed ``loom`` in a pseudo-terminal: ``expect`` text, ``send`` lines."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                        env={**env, "TERM": "dumb", "COLUMNS": "200"},
                                        close_fds=True)
        os.close(slave)
        self.seen = b""

    def expect(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            assert time.monotonic() < deadline, f"{text!r} not in {self.seen.decode()!r}"
            if select.select([self.master], [], [], 0.05)[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:  # the program ended
                    assert text.encode() in self.seen, self.seen.decode()

    def send(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def close(self) -> int:
        code = self.process.wait(timeout=30)
        os.close(self.master)
        return code


def test_questions_are_asked_at_the_terminal(place: Path) -> None:
    term = Terminal([str(LOOM_BIN), "run", str(place / "everything.json"), "--tools",
                     str(place / "tools.py"), "-i", "hint=warm", "-i", "path=/tmp/x"],
                    env_for(place))
    try:
        term.expect("Your name?")
        term.send("Ada")
        term.expect("Result of tool 'pick_color' with {\"hint\": \"warm\"} (JSON)")
        term.send("not json")
        term.expect("not JSON")
        term.send('{"color": "red"}')
        term.expect("Run tool 'delete_files'")
        term.send("y")
        term.expect("finished")
        term.expect("deleted: 3")
    finally:
        code = term.close()
    assert code == 0
    assert "color: red" in term.seen.decode() and "name: Ada" in term.seen.decode()
    assert calls(place) == ["delete_files"]


def test_end_of_input_at_the_terminal_leaves_the_run_waiting(place: Path) -> None:
    term = Terminal([str(LOOM_BIN), "run", str(place / "greet.json"), "--tools",
                     str(place / "tools.py"), "-i", "x=1", "--run-id", "eof"], env_for(place))
    try:
        term.expect("your name?")
        os.write(term.master, b"\x04")  # Ctrl-D
        term.expect("the run stays waiting")
    finally:
        code = term.close()
    assert code == 3
    resumed = subprocess.run([str(LOOM_BIN), "resume", "eof", "--answer", "Al", "--json"],
                             env=env_for(place), capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0 and json.loads(resumed.stdout)["outputs"] == {
        "greeting": "Al:2"}
