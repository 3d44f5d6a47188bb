"""``loom chat``: a terminal conversation with an agent, resumable by run id."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest

from loom.cli import main
from loom.observability import read_trace
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply

AGENT = """\
component_type: Agent
name: Helper
system_prompt: You help {{user}}.
human_in_the_loop: %(hitl)s
llm_config:
  component_type: OpenAiCompatibleConfig
  name: llm
  url: http://127.0.0.1:1/v1
  model_id: fake-model
tools:
- component_type: ServerTool
  name: add
  inputs: [{title: a, type: integer}, {title: b, type: integer}]
  outputs: [{title: sum, type: integer}]
- component_type: ClientTool
  name: locate
  inputs: []
  outputs: [{title: city, type: string}]
- component_type: ServerTool
  name: wipe
  requires_confirmation: true
  inputs: []
  outputs: [{title: done, type: boolean}]
agentspec_version: 26.2.0
"""

TOOLS = """\
from pathlib import Path

def add(a, b):
    with open(Path(__file__).with_name("calls.txt"), "a") as f:
        f.write(f"add {a} {b}\\n")
    return a + b

def wipe():
    with open(Path(__file__).with_name("calls.txt"), "a") as f:
        f.write("wipe\\n")
    return True
"""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "tools.py").write_text(TOOLS)
    return tmp_path


def chat(files: Path, server: FakeLlmServer, monkeypatch: pytest.MonkeyPatch, typed: str,
         *extra: str, hitl: bool = True) -> int:
    config = files / "agent.yaml"
    config.write_text(AGENT % {"hitl": str(hitl).lower()})
    monkeypatch.setattr("sys.stdin", io.StringIO(textwrap.dedent(typed)))
    return main(["chat", str(config), "--tools", str(files / "tools.py"), "--llm-url",
                 server.url, "--store", f"sqlite:///{files / 'runs.sqlite3'}", *extra])


def calls(files: Path) -> list[str]:
    path = files / "calls.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_a_session_streams_answers_shows_tools_and_continues_by_run_id(
        files: Path, fake_llm: FakeLlmServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    fake_llm.script_sequence([ToolCallsReply([ScriptedToolCall("add", {"a": 2, "b": 3})]),
                              "2 + 3 = 5, Ada."])
    fake_llm.script("bye", "Goodbye, Ada!")
    code = chat(files, fake_llm, monkeypatch, "what is 2+3?\n", "-i", "user=Ada",
                "--run-id", "s1")
    assert code == 0
    first = capsys.readouterr().out
    assert "you> what is 2+3?" in first
    assert '-> add({"a": 2, "b": 3})' in first and "<- add: 5" in first
    assert "Helper: 2 + 3 = 5, Ada." in first
    assert "--run-id s1" in first
    assert all(body.get("stream") for body in fake_llm.requests)  # tokens were streamed

    code = chat(files, fake_llm, monkeypatch, "bye\n/exit\n", "--run-id", "s1")
    assert code == 0
    second = capsys.readouterr().out
    assert "continuing session s1" in second
    assert "you> what is 2+3?" in second  # the history is shown again
    assert "Helper: Goodbye, Ada!" in second
    assert calls(files) == ["add 2 3"]  # replayed, never called twice
    assert len(fake_llm.requests) == 3


def test_client_tools_and_confirmations_are_asked_at_the_prompt(
        files: Path, fake_llm: FakeLlmServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    fake_llm.script_sequence([
        ToolCallsReply([ScriptedToolCall("locate"), ScriptedToolCall("wipe")]),
        "You are in Oslo; all wiped.",
    ])
    # A 5,000-digit number is past Python's own limit: asked again, not a traceback.
    code = chat(files, fake_llm, monkeypatch, 'not json\n' + "9" * 5000 + '\n"Oslo"\ny\n',
                "-i", "user=Bo", hitl=False)
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "result of locate({})" in out.out and "not JSON" in out.err
    assert "Exceeds the limit" in out.err
    assert "Run tool 'wipe' with {}? [y/n]" in out.out
    assert "Helper: You are in Oslo; all wiped." in out.out
    assert "finished" in out.out
    assert calls(files) == ["wipe"]


def test_a_failing_session_exits_1(files: Path, fake_llm: FakeLlmServer,
                                   monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    fake_llm.script(None, ToolCallsReply([ScriptedToolCall("add", {"a": 1, "b": 1})]))
    code = chat(files, fake_llm, monkeypatch, "loop\n", "-i", "user=Cy", "--max-iterations",
                "2")
    assert code == 1
    assert "reached its limit of 2 LLM calls" in capsys.readouterr().out


def test_an_unknown_config_is_a_usage_error(files: Path, fake_llm: FakeLlmServer,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", str(files / "nope.yaml")]) == 2
    assert "error" in capsys.readouterr().err


def test_trace_records_the_session_with_the_llm_calls_and_tool_calls(
        files: Path, fake_llm: FakeLlmServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    fake_llm.script_sequence([ToolCallsReply([ScriptedToolCall("add", {"a": 4, "b": 5})]),
                              "4 + 5 = 9."])
    trace = files / "chat.jsonl"
    code = chat(files, fake_llm, monkeypatch, "what is 4+5?\n/exit\n", "-i", "user=Di",
                "--trace", str(trace), "--trace-content")
    assert code == 0
    assert "Helper: 4 + 5 = 9." in capsys.readouterr().out  # the conversation is still shown
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    types = [line["type"] for line in lines]
    assert types.count("LlmGenerationRequest") == 2
    tool_end = next(line for line in lines if line["type"] == "ToolExecutionResponse")
    assert tool_end["outputs"] == "9"  # with --trace-content, what the agent got back
    spans = read_trace(trace)
    assert any(span.name == "Helper" for span in spans)
