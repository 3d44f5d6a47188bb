"""Errors: configuration problems raise before the run; run failures name the node."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.errors import NodeFailure, PlanError
from loom.spec import CatchExceptionNode, FlowNode, ParallelFlowNode

from .conftest import Recorder, linear_flow, prop, props, runtime, tool_node, tool_subflow


def two_tool_flow() -> Any:
    first = tool_node("first", props(x="integer"), props(x="integer"))
    fan = ParallelFlowNode(name="fan", subflows=[
        tool_subflow("bound", "first", props(x="integer"), props(y="integer")),
        tool_subflow("unbound", "missing_tool", props(x="integer"), props(z="integer"),
                     node_name="needs_missing"),
    ])
    guard = CatchExceptionNode(name="guard", subflow=linear_flow(
        "guarded", fan, inputs=props(x="integer"),
        outputs=[prop("y", "integer", default=0), prop("z", "integer", default=0)]))
    with warnings.catch_warnings():  # the guard's caught branch is left unwired on purpose
        warnings.simplefilter("ignore", loom.LoomWarning)
        return linear_flow("main", first, guard, inputs=props(x="integer"),
                           outputs=props(y="integer"))


def test_missing_server_tool_is_reported_before_anything_runs() -> None:
    rec = Recorder()
    rt = runtime({"first": rec.sync_tool("first", result=1)})
    with pytest.raises(PlanError) as caught:
        rt.run(two_tool_flow(), {"x": 1})
    message = str(caught.value)
    assert "ServerTool 'missing_tool' (used by ToolNode 'needs_missing') has no implementation" \
        in message
    assert "register a function named 'missing_tool'" in message
    assert rec.spans == []  # not even the first node ran; the CatchExceptionNode did not hide it


async def test_missing_server_tool_raises_from_arun_and_compile_too() -> None:
    rt = runtime({"first": lambda x: x})
    with pytest.raises(PlanError):
        rt.compile(two_tool_flow())
    with pytest.raises(PlanError):
        await rt.arun(two_tool_flow(), {"x": 1})


@pytest.mark.parametrize("kind", ["sync", "async", "inline"])
def test_a_raising_tool_fails_the_run_with_the_full_node_path(kind: str) -> None:
    def explode(x: int) -> int:
        raise ZeroDivisionError(f"cannot divide {x} by zero")

    async def explode_async(x: int) -> int:
        raise ZeroDivisionError(f"cannot divide {x} by zero")

    tool = {"sync": explode, "async": explode_async, "inline": loom.inline(explode)}[kind]
    inner = linear_flow("inner", tool_node("divide", props(x="integer"), props(y="integer"),
                                           name="divide_step"),
                        inputs=props(x="integer"), outputs=props(y="integer"))
    flow = linear_flow("main", FlowNode(name="outer_step", subflow=inner),
                       inputs=props(x="integer"), outputs=props(y="integer"))
    result = runtime({"divide": tool}).run(flow, {"x": 7})
    assert result.status == "failed" and result.error is not None
    assert result.outputs == {}
    assert result.error.node == "main > outer_step > inner > divide_step"
    assert result.error.message == "tool 'divide' raised ZeroDivisionError: cannot divide 7 by zero"
    assert isinstance(result.exception, NodeFailure)
    assert result.exception.node_path == ("main", "outer_step", "inner", "divide_step")
    # the tool's own exception stays reachable for debugging
    assert isinstance(result.exception.__cause__.__cause__, ZeroDivisionError)
    with pytest.raises(NodeFailure, match="divide_step: tool 'divide' raised"):
        result.raise_for_status()


def test_an_exception_without_text_is_named_by_its_type() -> None:
    def fail() -> None:
        raise RuntimeError

    result = runtime({"fail": fail}).run(linear_flow("main", tool_node("fail")))
    assert result.error is not None
    assert result.error.message == "tool 'fail' raised RuntimeError"


def test_failed_result_as_data() -> None:
    result = runtime({"fail": lambda: 1 / 0}).run(linear_flow("main", tool_node("fail")))
    data = result.to_dict()
    assert data["status"] == "failed"
    assert data["error"] == {"node": "main > fail",
                             "message": "tool 'fail' raised ZeroDivisionError: division by zero"}
    finished = runtime({"fail": lambda: None}).run(linear_flow("main", tool_node("fail")))
    assert finished.to_dict() == {"status": "finished", "outputs": {}, "messages": [],
                                  "error": None}
    assert finished.raise_for_status() is finished


def test_run_inside_an_event_loop_points_to_arun() -> None:
    async def call_run() -> None:
        runtime().run(linear_flow("main"))

    with pytest.raises(RuntimeError, match="use arun"):
        asyncio.run(call_run())


def test_runtime_refuses_a_zero_concurrency_limit() -> None:
    with pytest.raises(ValueError, match="max_concurrency must be at least 1"):
        runtime(max_concurrency=0)


def test_runtime_refuses_components_that_are_not_flows_or_agents() -> None:
    with pytest.raises(loom.LoadError, match="cannot be run: loom runs Flows and agents"):
        runtime().run(tool_node("x"))
    with pytest.raises(TypeError, match="cannot run a int"):
        runtime().run(42)


def test_runtime_runs_json_text_and_files(tmp_path: Path) -> None:
    flow = linear_flow("main", tool_node("inc", props(x="integer"), props(x="integer")),
                       inputs=props(x="integer"), outputs=props(x="integer"))
    text = loom.dumps(flow)
    path = tmp_path / "flow.json"
    path.write_text(text)
    rt = runtime({"inc": lambda x: x + 1})
    assert rt.run(text, {"x": 1}).outputs == {"x": 2}
    assert rt.run(path, {"x": 2}).outputs == {"x": 3}
    assert rt.run(str(path), {"x": 3}).outputs == {"x": 4}


def test_a_compiled_plan_is_reused_for_the_same_flow_object() -> None:
    flow = linear_flow("main", tool_node("inc", props(x="integer"), props(x="integer")),
                       inputs=props(x="integer"), outputs=props(x="integer"))
    rt = runtime({"inc": lambda x: x + 1})
    assert rt.compile(flow) is rt.compile(flow)
    assert [rt.run(flow, {"x": i}).outputs["x"] for i in range(3)] == [1, 2, 3]


def test_messages_written_before_a_failure_are_kept() -> None:
    from loom.spec import OutputMessageNode

    flow = linear_flow("main", OutputMessageNode(name="say", message="working on it"),
                       tool_node("fail"))
    result = runtime({"fail": lambda: 1 / 0}).run(flow)
    assert result.status == "failed"
    assert [m["content"] for m in result.messages] == ["working on it"]
