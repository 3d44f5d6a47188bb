"""Flow inputs are checked against their declared types before the run starts:
from Python (a failed run naming the input) and from the command line (exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import loom
from loom.cli import main

from .conftest import linear_flow, prop, runtime, tool_node

LIST_OF_STRINGS = {"type": "array", "items": {"type": "string"}}


def typed_flow() -> loom.spec.Flow:
    inputs = [prop("n", "integer"), prop("a", "string", default="-"),
              prop("l", LIST_OF_STRINGS, default=[]), prop("f", "number", default=0.5),
              prop("b", "boolean", default=False), prop("o", "object", default={})]
    step = tool_node("echo", inputs, [prop("out", "string")])
    return linear_flow("typed", step, inputs=inputs, outputs=[prop("out", "string")])


def echo(**values: Any) -> str:
    return repr(sorted(values.items()))


@pytest.mark.parametrize(("inputs", "declared", "given"), [
    ({"n": "x"}, "integer", "string"),
    ({"n": 1, "a": {"k": 1}}, "string", "object"),
    ({"n": 1, "a": None}, "string", "null"),
    ({"n": 1, "l": [1, 2]}, "array", "array of integer"),
    ({"n": 1, "l": "abc"}, "array", "string"),
    ({"n": 1, "f": "nope"}, "number", "string"),
    ({"n": 1, "b": "yes"}, "boolean", "string"),
    ({"n": 1, "o": [1]}, "object", "array"),
    ({"n": [1]}, "integer", "array"),
    ({"n": 1, "a": 5}, "string", "integer"),
])
def test_a_value_of_the_wrong_type_fails_the_run_before_any_node(
    inputs: dict[str, Any], declared: str, given: str
) -> None:
    calls: list[Any] = []
    rt = runtime({"echo": lambda **kw: calls.append(kw) or "ran"})
    result = rt.run(typed_flow(), inputs)
    assert result.status == "failed"
    assert result.error is not None and result.error.node == "typed"
    name = next(iter(set(inputs) - {"n"}), "n") if len(inputs) > 1 else "n"
    assert f"flow input '{name}' is declared {declared}" in result.error.message
    assert given in result.error.message
    assert isinstance(result.exception, loom.RunError)
    assert calls == []


@pytest.mark.parametrize("inputs", [
    {"n": "7"}, {"n": 7.0}, {"n": True}, {"n": 1, "f": 3}, {"n": 1, "f": "2.5"},
    {"n": 1, "b": 1}, {"n": 1, "l": ["x", "y"]}, {"n": 1, "o": {"k": [1]}},
])
def test_documented_conversions_still_pass(inputs: dict[str, Any]) -> None:
    assert runtime({"echo": echo}).run(typed_flow(), inputs).status == "finished"


def test_any_of_and_untyped_inputs_pass_as_they_are() -> None:
    either = {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    inputs = [prop("e", either), prop("u", {})]
    step = tool_node("echo", inputs, [prop("out", "string")])
    flow = linear_flow("anyof", step, inputs=inputs, outputs=[prop("out", "string")])
    rt = runtime({"echo": echo})
    assert rt.run(flow, {"e": None, "u": {"x": 1}}).status == "finished"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "typed.json"
    path.write_text(loom.dumps(typed_flow()))
    (tmp_path / "tools.py").write_text("def echo(**values):\n    return 'ran'\n")
    return path


@pytest.mark.parametrize(("args", "expected"), [
    (["--inputs-json", '{"n": "x"}'], "input 'n' is declared integer"),
    (["-i", "n=1", "-i", "l=[1,2]"], "input 'l' is declared array, not array of integer"),
    (["-i", "n=1", "--inputs-json", '{"a": {"k": 1}}'], "input 'a' is declared string"),
])
def test_the_command_line_refuses_a_wrong_type_with_exit_2(
    config: Path, args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(config), "--tools", str(config.parent / "tools.py"),
                 "--store", "memory:", "--quiet", *args])
    captured = capsys.readouterr()
    assert code == 2
    assert expected in captured.err
    assert len(captured.err.strip().splitlines()) <= 2  # the error line and its hint
    assert "Traceback" not in captured.err


def test_the_command_line_runs_well_typed_inputs(config: Path) -> None:
    assert main(["run", str(config), "--tools", str(config.parent / "tools.py"),
                 "--store", "memory:", "-i", "n=3", "-i", 'l=["x"]', "--quiet"]) == 0


COLOR = {"type": "string", "enum": ["red", "green"]}


def enum_flow() -> loom.spec.Flow:
    inputs = [prop("color", COLOR), prop("n", {"type": "integer", "enum": [1, 2]}, default=1),
              prop("tags", {"type": "array", "items": COLOR}, default=[]),
              prop("on", {"type": "boolean", "const": True}, default=True),
              prop("mode", {"enum": [0, "auto"]}, default=0)]
    step = tool_node("echo", inputs, [prop("out", "string")])
    return linear_flow("paint", step, inputs=inputs, outputs=[prop("out", "string")])


@pytest.mark.parametrize(("inputs", "expected"), [
    ({"color": "purple"}, "flow input 'color' is 'purple', not one of ['red', 'green']"),
    ({"color": "red", "n": 3}, "flow input 'n' is 3, not one of [1, 2]"),
    ({"color": "red", "mode": False}, "flow input 'mode' is False, not one of [0, 'auto']"),
    ({"color": "red", "tags": ["red", "blue"]},
     "flow input 'tags' is 'blue', not one of ['red', 'green']"),
    ({"color": "red", "on": False}, "flow input 'on' is False, not one of [True]"),
])
def test_a_value_outside_the_enum_fails_the_run_before_any_node(
    inputs: dict[str, Any], expected: str
) -> None:
    calls: list[Any] = []
    result = runtime({"echo": lambda **kw: calls.append(kw) or "ran"}).run(enum_flow(), inputs)
    assert result.status == "failed" and result.error is not None
    assert result.error.message == expected
    assert result.error.node == "paint" and calls == []


@pytest.mark.parametrize("inputs", [
    {"color": "green"}, {"color": "red", "n": 2.0}, {"color": "red", "n": "2"},
    {"color": "red", "tags": ["green", "red"]}, {"color": "red", "on": True},
    {"color": "red", "n": True}, {"color": "red", "mode": 0.0},
])
def test_values_in_the_enum_pass(inputs: dict[str, Any]) -> None:
    assert runtime({"echo": echo}).run(enum_flow(), inputs).status == "finished"


def test_the_command_line_refuses_a_value_outside_the_enum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "paint.json"
    path.write_text(loom.dumps(enum_flow()))
    (tmp_path / "tools.py").write_text("def echo(**values):\n    return 'ran'\n")
    run = ["run", str(path), "--tools", str(tmp_path / "tools.py"), "--store", "memory:",
           "--quiet"]
    for args in (["-i", "color=purple"], ["--inputs-json", '{"color": "purple"}']):
        assert main([*run, *args]) == 2
        err = capsys.readouterr().err
        assert "input 'color' is 'purple', not one of ['red', 'green']" in err, err
        assert "Traceback" not in err
    assert main([*run, "-i", "color=green"]) == 0
