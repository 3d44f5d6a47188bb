"""loom/cli/setup.py, the one place where run, chat and resume set a run up:
through ``loom.cli.main`` (the real command), and its public functions directly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import loom
from loom.cli.setup import (
    CommandError,
    RuntimeOptions,
    build_runtime,
    load_tools,
    parse_inputs,
    prepare,
    server_tools,
)
from loom.cli.waiting import METADATA_KEY
from loom.spec import (
    InputMessageNode,
    LlmNode,
)
from loom.spec.llms import OpenAiCompatibleConfig
from loom.stores import MemoryStore, SqliteStore

from .flows import chain, double_flow, prop, run

TOOLS = '''
def double(x):
    return x * 2

def unused_helper(x):
    return x

def _private(x):
    return x

class NotATool:
    pass
'''








@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "tools.py").write_text(TOOLS)
    (tmp_path / "broken.py").write_text("raise RuntimeError('no')\n")
    (tmp_path / "double.json").write_text(loom.dumps(double_flow()))
    asks = chain("asker", InputMessageNode(name="ask", message="Name?", outputs=[prop("n")]),
                 outputs=(prop("n"),))
    (tmp_path / "asks.json").write_text(loom.dumps(asks))
    dead = OpenAiCompatibleConfig(name="dead", url="http://127.0.0.1:9", model_id="m")
    writes = chain("writer", LlmNode(name="write", llm_config=dead, prompt_template="Hi"),
                   outputs=(prop("generated_text"),))
    (tmp_path / "llm.json").write_text(loom.dumps(writes))
    monkeypatch.setenv("LOOM_STORE", f"sqlite:///{tmp_path}/runs.sqlite3")
    for name in ("LOOM_LLM_URL", "LOOM_LLM_MODEL", "LOOM_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path




# --- through the command --------------------------------------------------------------------


def test_run_binds_the_tools_file_and_parses_inputs(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "run", str(place / "double.json"), "--tools",
                       str(place / "tools.py"), "-i", "x=21", "--json")
    assert code == 0 and json.loads(out)["outputs"] == {"y": 42}
    code, out, _ = run(capsys, "run", str(place / "double.json"), "--tools",
                       str(place / "tools.py"), "--inputs-json", '{"x": 5}', "--json")
    assert code == 0 and json.loads(out)["outputs"] == {"y": 10}


@pytest.mark.parametrize(("argv", "message"), [
    (["--tools", "{place}/missing.py"], "tools file not found"),
    (["--tools", "{place}/broken.py"], "importing tools file"),
    (["--tools", "{place}/tools.py", "-i", "x"], "-i expects NAME=VALUE, got 'x'"),
    (["--tools", "{place}/tools.py", "-i", "x=two"], "input 'x' is declared integer"),
    (["--tools", "{place}/tools.py", "-i", "z=1"], "flow 'doubler' has no input 'z'"),
    (["--tools", "{place}/tools.py", "--inputs-json", "[1]"], "must be a JSON object"),
    ([], "ServerTool 'double' (used by ToolNode 'double') has no implementation"),
], ids=["missing", "broken", "no-equals", "not-integer", "unknown", "not-object", "unbound"])
def test_setup_errors_exit_2_with_one_message(
    place: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [arg.format(place=place) for arg in argv]
    code, _, err = run(capsys, "run", str(place / "double.json"), *argv)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_fake_llm_url_wins_over_the_config_and_llm_url(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "run", str(place / "llm.json"), "--fake-llm",
                         "--llm-url", "http://127.0.0.1:9")
    assert code == 0, err
    assert "built-in test LLM server" in err and "generated_text" in out


def test_the_options_a_run_starts_with_are_those_resume_builds_from(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "run", str(place / "asks.json"), "--tools",
                       str(place / "tools.py"), "--max-concurrency", "7", "--inline-tools",
                       "--checkpoint", "nodes", "--branch-timeout", "9", "--llm-model", "m2",
                       "--run-id", "opts", "--json")
    assert code == 3, out
    store = SqliteStore(place / "runs.sqlite3")
    try:
        saved = store.load("opts").metadata[METADATA_KEY]
    finally:
        store.close()
    assert RuntimeOptions.saved(saved) == RuntimeOptions(
        tools=[str((place / "tools.py").resolve())], registry=[], llm_model="m2",
        max_concurrency=7, branch_timeout=9.0, inline_tools=True, checkpoint="nodes")
    code, out, _ = run(capsys, "resume", "opts", "--answer", "Ada", "--json")
    assert code == 0 and json.loads(out)["outputs"] == {"n": "Ada"}


# --- the functions ---------------------------------------------------------------------------


def test_load_tools_takes_the_public_functions_defined_in_the_file(place: Path) -> None:
    assert sorted(load_tools([place / "tools.py"])) == ["double", "unused_helper"]
    with pytest.raises(CommandError, match="tools file not found"):
        load_tools([place / "nope.py"])


def test_prepare_binds_only_the_tools_the_flow_uses(place: Path) -> None:
    options = RuntimeOptions(tools=[str(place / "tools.py")], inline_tools=True)
    prepared = prepare(options, place / "double.json", MemoryStore, inputs=["x=3"])
    try:
        assert server_tools(prepared.flow) == {"double"}
        assert sorted(prepared.runtime.services.tools) == ["double"]
        assert prepared.inputs == {"x": 3}
        assert prepared.runtime.run(prepared.flow, prepared.inputs).outputs == {"y": 6}
    finally:
        prepared.runtime.close()


def test_build_runtime_takes_its_llm_settings_from_the_options() -> None:
    options = RuntimeOptions(llm_url="http://a", llm_model="m", max_iterations=3)
    runtime = build_runtime(options, MemoryStore(), tools={}, registry={})
    try:
        assert runtime.llm_overrides == {"url": "http://a", "model": "m"}
        assert runtime.services.max_iterations == 3
        runtime.llm_overrides["url"] = "changed"  # a copy: the runtime's stay
        assert build_runtime(options, MemoryStore(), tools={}, registry={},
                             llm_url="http://b").llm_overrides["url"] == "http://b"
    finally:
        runtime.close()


def test_parse_inputs_reads_each_declared_type() -> None:
    flow = chain("typed", inputs=(prop("i", "integer"), prop("f", "number"),
                                  prop("b", "boolean"), prop("s"), prop("l", "array")))
    assert parse_inputs(flow, ["i=1", "f=2.5", "b=yes", "s=x=y", "l=[1]"], '{"s": "old"}') == {
        "i": 1, "f": 2.5, "b": True, "s": "x=y", "l": [1]}
    with pytest.raises(CommandError, match="declared boolean"):
        parse_inputs(flow, ["b=maybe"], None)
