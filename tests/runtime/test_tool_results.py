"""What a tool returns and how it ends, checked for Python users of the Runtime.

A value JSON cannot hold fails the run at the tool's node (the CLI and a
checkpoint could not write it); a tool's SystemExit is a tool failure, never the
end of the process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from loom import Runtime
from loom.spec import ControlFlowEdge, EndNode, Flow, Property, ServerTool, StartNode, ToolNode


def prop(title: str, kind: str | None = None) -> Property:
    schema: dict[str, Any] = {"title": title}
    if kind:
        schema["type"] = kind
    return Property(json_schema=schema)


def tool_flow(kind: str | None) -> Flow:
    start = StartNode(name="start", inputs=[prop("x", "integer")])
    node = ToolNode(name="call", tool=ServerTool(
        name="tool", inputs=[prop("x", "integer")], outputs=[prop("y", kind)]))
    end = EndNode(name="end", outputs=[prop("y", kind)])
    return Flow(name="f", start_node=start, nodes=[start, node, end], control_flow_connections=[
        ControlFlowEdge(name="a", from_node=start, to_node=node),
        ControlFlowEdge(name="b", from_node=node, to_node=end),
    ])


def run(fn: Callable[..., Any], kind: str | None = "object", inline: bool = False) -> Any:
    runtime = Runtime(tools={"tool": fn}, inline_tools=inline)
    try:
        return runtime.run(tool_flow(kind), {"x": 1})
    finally:
        runtime.close()


@pytest.mark.parametrize(("value", "named"), [
    ({"tags": {1, 2}}, "set"),
    ({"deep": [1, {"when": object()}]}, "object"),
    ({1: "a"}, "dict with non-string keys"),
    ({"b": b"bytes"}, "bytes"),
])
def test_a_value_json_cannot_hold_fails_at_the_tool(value: Any, named: str) -> None:
    result = run(lambda x: value)
    assert result.status == "failed"
    assert result.error.node.endswith("call")
    assert f"a {named} in output 'y'" in result.error.message


def test_the_same_rule_for_an_untyped_output() -> None:
    result = run(lambda x: {"a": {3}}, kind=None)
    assert result.status == "failed" and "set" in result.error.message


def test_json_values_pass() -> None:
    value = {"a": [1, 2.5, None, True, "s", (3, 4)], "b": {"c": {}}}
    result = run(lambda x: value)
    assert result.status == "finished"
    assert result.outputs["y"]["b"] == {"c": {}}


@pytest.mark.parametrize(("value", "kind", "given"), [
    (5, "boolean", True), (0, "boolean", False), (True, "integer", 1), (2.7, "integer", 2),
])
def test_numbers_and_booleans_pass_for_each_other_and_arrive_cast(value: Any, kind: str,
                                                                  given: Any) -> None:
    # As pyagentspec's value_is_of_compatible_type (and its defaults) accept them; the
    # next input reading the value casts it (spec 2.3, rule 3), so no 5 reaches a boolean.
    result = run(lambda x: value, kind=kind)
    assert result.status == "finished", result.error
    assert result.outputs["y"] == given and type(result.outputs["y"]) is type(given)


def test_a_string_for_a_boolean_output_fails_at_the_tool() -> None:
    result = run(lambda x: "yes", kind="boolean")
    assert result.status == "failed" and "declared boolean" in result.error.message


def test_not_json_names_the_first_bad_part() -> None:
    from loom._checks import not_json

    assert not_json([1, "a", {"k": [None]}]) is None
    assert not_json([1, {"k": [frozenset()]}]) == "frozenset"


def _exits(x: int) -> int:
    raise SystemExit(7)


async def _exits_async(x: int) -> int:
    await asyncio.sleep(0)
    raise SystemExit("bye")


@pytest.mark.parametrize(("fn", "inline"), [
    (_exits, False), (_exits, True), (_exits_async, False),
])
def test_system_exit_in_a_tool_is_a_tool_failure(fn: Callable[..., Any], inline: bool) -> None:
    result = run(fn, kind="integer", inline=inline)
    assert result.status == "failed"
    assert result.error.node.endswith("call")
    assert "SystemExit" in result.error.message
