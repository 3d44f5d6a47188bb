"""StartNode, EndNode, ToolNode, OutputMessageNode, BranchingNode, FlowNode, wiring."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import loom
from loom.spec import (
    BranchingNode,
    EndNode,
    Flow,
    FlowNode,
    OutputMessageNode,
    StartNode,
)

from .conftest import Spy, linear_flow, make_flow, prop, props, runtime, tool_node

# --- StartNode -----------------------------------------------------------------------


def echo_flow() -> Flow:
    step = tool_node("echo", [prop("x", "integer"), prop("label", "string", default="none")],
                     [prop("out", "string")])
    return linear_flow(
        "main", step,
        inputs=[prop("x", "integer"), prop("label", "string", default="none")],
        outputs=[prop("out", "string")],
    )


def test_start_node_passes_caller_inputs_and_defaults() -> None:
    seen: list[dict[str, Any]] = []

    def echo(x: int, label: str) -> str:
        seen.append({"x": x, "label": label})
        return f"{label}:{x}"

    rt = runtime({"echo": echo})
    assert rt.run(echo_flow(), {"x": 3, "label": "a"}).outputs == {"out": "a:3"}
    assert rt.run(echo_flow(), {"x": 4}).outputs == {"out": "none:4"}
    assert seen == [{"x": 3, "label": "a"}, {"x": 4, "label": "none"}]


def test_start_node_converts_a_numeric_string_to_the_declared_integer() -> None:
    echo = Spy("ok")
    assert runtime({"echo": echo}).run(echo_flow(), {"x": "7"}).status == "finished"
    assert echo.values("x") == [7]


def test_missing_flow_input_without_default_fails_before_any_node_runs() -> None:
    echo = Spy("ok")
    result = runtime({"echo": echo}).run(echo_flow(), {"label": "a"})
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.node == "main"
    assert "flow input 'x' was not given and has no default" in result.error.message
    assert "pass a value for 'x'" in result.error.message
    assert echo.calls == []


# --- EndNode and flow outputs --------------------------------------------------------


def two_ended_flow(outputs: list[Any] | None = None) -> Flow:
    """score >= 5 ends on branch 'high' (with a note), otherwise on 'low' (without)."""
    start = StartNode(name="start", inputs=[prop("score", "integer")])
    grade = tool_node("grade", [prop("score", "integer")],
                      [prop("level", "string"), prop("note", "string")])
    branch = BranchingNode(name="route", mapping={"high": "high", "low": "low"},
                           inputs=[prop("level", "string")])
    high = EndNode(name="end_high", inputs=[prop("score", "integer"), prop("note", "string")],
                   branch_name="high")
    low = EndNode(name="end_low", inputs=[prop("score", "integer")], branch_name="low")
    extra: dict[str, Any] = {} if outputs is None else {"outputs": outputs}
    return make_flow(
        "graded", [start, grade, branch, high, low],
        [(start, grade), (grade, branch), (branch, high, "high"), (branch, low, "low"),
         (branch, low, "default")],
        **extra,
    )


def grade(score: int) -> dict[str, str]:
    return {"level": "high" if score >= 5 else "low", "note": f"scored {score}"}


def test_several_end_nodes_report_their_branch_and_common_outputs() -> None:
    rt = runtime({"grade": grade})
    flow = two_ended_flow()
    # Without declared outputs, only titles every EndNode has are flow outputs.
    assert [p.title for p in flow.outputs or []] == ["score"]
    high = rt.run(flow, {"score": 9})
    low = rt.run(flow, {"score": 1})
    assert (high.status, high.branch, high.outputs) == ("finished", "high", {"score": 9})
    assert (low.status, low.branch, low.outputs) == ("finished", "low", {"score": 1})


def test_flow_output_default_fills_in_when_the_reached_end_node_lacks_it() -> None:
    rt = runtime({"grade": grade})
    flow = two_ended_flow(outputs=[prop("score", "integer"), prop("note", "string", "n/a")])
    assert rt.run(flow, {"score": 6}).outputs == {"score": 6, "note": "scored 6"}
    assert rt.run(flow, {"score": 2}).outputs == {"score": 2, "note": "n/a"}


def test_flow_node_takes_the_branch_of_the_end_node_its_subflow_reached() -> None:
    inner = two_ended_flow()
    wrapper = FlowNode(name="grading", subflow=inner)
    assert wrapper.branches == ["high", "low"]
    start = StartNode(name="start", inputs=[prop("score", "integer")])
    praise = tool_node("praise", [prop("score", "integer")], [prop("msg", "string")])
    console = tool_node("console", [prop("score", "integer")], [prop("msg", "string")])
    end = EndNode(name="end", inputs=[prop("msg", "string")])
    outer = make_flow(
        "outer", [start, wrapper, praise, console, end],
        [(start, wrapper), (wrapper, praise, "high"), (wrapper, console, "low"),
         (praise, end), (console, end)],
    )
    rt = runtime({
        "grade": grade,
        "praise": lambda score: f"great {score}",
        "console": lambda score: f"try again ({score})",
    })
    high = rt.run(outer, {"score": 8})
    low = rt.run(outer, {"score": 3})
    assert high.outputs == {"msg": "great 8"} and high.branch == "next"
    assert low.outputs == {"msg": "try again (3)"}


def test_flow_node_maps_inputs_and_outputs_and_names_inner_failures_by_path() -> None:
    def boom(x: int) -> int:
        raise ValueError("bad x")

    inner = linear_flow("inner", tool_node("boom", props(x="integer"), props(y="integer"),
                                           name="boom_step"),
                        inputs=props(x="integer"), outputs=props(y="integer"))
    outer = linear_flow("outer", FlowNode(name="sub", subflow=inner),
                        inputs=props(x="integer"), outputs=props(y="integer"))
    assert runtime({"boom": lambda x: x * 10}).run(outer, {"x": 2}).outputs == {"y": 20}
    failed = runtime({"boom": boom}).run(outer, {"x": 2})
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.node == "outer > sub > inner > boom_step"


# --- ToolNode ------------------------------------------------------------------------


def adder_flow(outputs: list[Any] | None = None) -> Flow:
    outs = outputs or [prop("total", "integer")]
    return linear_flow("main", tool_node("add", props(a="integer", b="integer"), outs),
                       inputs=props(a="integer", b="integer"), outputs=outs)


def test_sync_tools_run_in_worker_threads() -> None:
    threads: list[str] = []

    def add(a: int, b: int) -> int:
        threads.append(threading.current_thread().name)
        return a + b

    assert runtime({"add": add}).run(adder_flow(), {"a": 2, "b": 3}).outputs == {"total": 5}
    assert threads and threads[0].startswith("loom-tool")


def test_async_tools_are_awaited_on_the_loop() -> None:
    threads: list[str] = []

    async def add(a: int, b: int) -> int:
        threads.append(threading.current_thread().name)
        return a + b

    assert runtime({"add": add}).run(adder_flow(), {"a": 2, "b": 3}).outputs == {"total": 5}
    assert threads == [threading.current_thread().name]


def test_inline_tools_run_on_the_loop_thread_without_a_worker_hop() -> None:
    threads: list[str] = []

    @loom.inline
    def add(a: int, b: int) -> int:
        threads.append(threading.current_thread().name)
        return a + b

    assert runtime({"add": add}).run(adder_flow(), {"a": 2, "b": 3}).outputs == {"total": 5}
    assert threads == [threading.current_thread().name]


def test_callable_objects_with_async_call_are_awaited() -> None:
    class Adder:
        async def __call__(self, a: int, b: int) -> int:
            return a + b

    assert runtime({"add": Adder()}).run(adder_flow(), {"a": 1, "b": 1}).outputs == {"total": 2}


@pytest.mark.parametrize(
    "result",
    [
        {"total": 5, "diff": -1},  # a dict keyed by output titles
        (5, -1),  # a tuple in declaration order
    ],
    ids=["dict", "tuple"],
)
def test_tool_with_several_outputs(result: Any) -> None:
    outs = [prop("total", "integer"), prop("diff", "integer")]
    rt = runtime({"add": lambda a, b: result})
    assert rt.run(adder_flow(outs), {"a": 2, "b": 3}).outputs == {"total": 5, "diff": -1}


def test_single_output_tool_may_return_a_dict_holding_just_that_key() -> None:
    rt = runtime({"add": lambda a, b: {"total": a + b}})
    assert rt.run(adder_flow(), {"a": 2, "b": 3}).outputs == {"total": 5}


def test_missing_key_of_a_multi_output_tool_uses_the_output_default() -> None:
    outs = [prop("total", "integer"), prop("diff", "integer", default=0)]
    rt = runtime({"add": lambda a, b: {"total": a + b}})
    assert rt.run(adder_flow(outs), {"a": 2, "b": 3}).outputs == {"total": 5, "diff": 0}


@pytest.mark.parametrize(
    ("outputs", "returned", "expected"),
    [
        ([prop("total", "integer")], "five",
         "tool 'add' returned str for output 'total', which is declared integer"),
        ([prop("total", "integer"), prop("diff", "integer")], 5,
         "tool 'add' has 2 outputs, so it must return a dict keyed by ['total', 'diff'], got int"),
        ([prop("total", "integer"), prop("diff", "integer")], {"total": 1},
         "tool 'add' returned no value for output 'diff'"),
        ([prop("total", {"type": "array", "items": {"type": "integer"}})], [1, "x"],
         "declared array of integer"),
    ],
    ids=["wrong-type", "not-a-dict", "missing-key", "wrong-item-type"],
)
def test_wrong_tool_result_fails_naming_the_node_path_and_the_tool(
    outputs: list[Any], returned: Any, expected: str
) -> None:
    result = runtime({"add": lambda a, b: returned}).run(adder_flow(outputs), {"a": 1, "b": 2})
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > add"
    assert expected in result.error.message
    assert "return what the tool's outputs declare" in result.error.message


def test_tool_without_outputs_has_its_result_ignored() -> None:
    log = Spy({"junk": 1})
    step = tool_node("log", props(text="string"), [])
    flow = linear_flow("main", step, inputs=props(text="string"), outputs=props(text="string"))
    result = runtime({"log": log}).run(flow, {"text": "hi"})
    assert result.outputs == {"text": "hi"} and log.values("text") == ["hi"]


# --- OutputMessageNode ---------------------------------------------------------------


def test_output_message_nodes_append_rendered_messages_in_order() -> None:
    hello = OutputMessageNode(name="hello", message="Hello {{name}}!")
    data_msg = OutputMessageNode(name="data", message="items: {{items}}")
    inner = linear_flow("inner", OutputMessageNode(name="inner_msg", message="from the subflow"))
    flow = linear_flow(
        "main", hello, FlowNode(name="sub", subflow=inner), data_msg,
        inputs=[prop("name"), prop("items", {"type": "array", "items": {"type": "integer"}})],
    )
    result = runtime().run(flow, {"name": "Ada", "items": [1, 2]})
    assert result.status == "finished"
    assert [(m["role"], m["content"]) for m in result.messages] == [
        ("assistant", "Hello Ada!"),
        ("assistant", "from the subflow"),  # subflows share the conversation
        ("assistant", "items: [1, 2]"),  # non-strings render as JSON
    ]


# --- BranchingNode -------------------------------------------------------------------


def branching_flow(key_type: str = "string") -> Flow:
    """The key goes through a BranchingNode; each branch ends with its own name."""
    start = StartNode(name="start", inputs=[prop("key", key_type)])
    route = BranchingNode(name="route", mapping={"a": "alpha", "5": "five", "true": "yes",
                                                 "false": "no", "A": "upper"},
                          inputs=[prop("key", "string")])
    ends = {b: EndNode(name=f"end_{b}", branch_name=b)
            for b in ("alpha", "five", "yes", "no", "upper", "default")}
    return make_flow("branchy", [start, route, *ends.values()],
                     [(start, route)] + [(route, end, b) for b, end in ends.items()])


@pytest.mark.parametrize(
    ("key_type", "key", "branch"),
    [
        ("string", "a", "alpha"),
        ("string", "A", "upper"),  # exact, case-sensitive match
        ("string", "b", "default"),  # unmapped -> default
        ("integer", 5, "five"),  # integer 5 matches key "5"
        ("boolean", True, "yes"),  # booleans read as JSON: "true"
        ("boolean", False, "no"),
        ("number", 5.5, "default"),
    ],
)
def test_branching_node_maps_the_value_as_text(key_type: str, key: Any, branch: str) -> None:
    result = runtime().run(branching_flow(key_type), {"key": key})
    assert result.status == "finished"
    assert result.branch == branch


def test_branching_node_with_a_boolean_input_compares_as_true_false() -> None:
    start = StartNode(name="start", inputs=[prop("ok", "boolean")])
    route = BranchingNode(name="route", mapping={"true": "yes", "True": "python"},
                          inputs=[prop("ok", "boolean")])
    ends = [EndNode(name=b, branch_name=b) for b in ("yes", "python", "default")]
    flow = make_flow("b", [start, route, *ends],
                     [(start, route)] + [(route, end, end.branch_name) for end in ends])
    assert runtime().run(flow, {"ok": True}).branch == "yes"
    assert runtime().run(flow, {"ok": False}).branch == "default"


def test_taking_an_unwired_branch_fails_naming_the_node_and_branch() -> None:
    start = StartNode(name="start", inputs=[prop("key")])
    route = BranchingNode(name="route", mapping={"a": "alpha"})
    end = EndNode(name="end")
    with pytest.warns(loom.LoomWarning, match="branch 'default'"):
        flow = make_flow("main", [start, route, end], [(start, route), (route, end, "alpha")],
                         [(start, "key", route, "branching_mapping_key")])
    assert runtime().run(flow, {"key": "a"}).status == "finished"
    result = runtime().run(flow, {"key": "zzz"})
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > route"
    assert "took branch 'default', which has no control edge" in result.error.message


# --- data wiring ---------------------------------------------------------------------


def test_name_based_wiring_uses_the_latest_writer_of_each_name() -> None:
    first = tool_node("first", props(x="integer"), props(x="integer", y="integer"))
    second = tool_node("second", props(x="integer"), props(x="integer"))
    show = tool_node("show", props(x="integer", y="integer"), props(text="string"))
    flow = linear_flow("main", first, second, show, inputs=props(x="integer"),
                       outputs=props(text="string", x="integer"))
    assert flow.data_flow_connections is None
    rt = runtime({
        "first": lambda x: {"x": x + 1, "y": x * 100},
        "second": lambda x: x * 2,
        "show": lambda x, y: f"x={x} y={y}",
    })
    # x: 1 (input) -> 2 (first) -> 4 (second); y comes from first only.
    assert rt.run(flow, {"x": 1}).outputs == {"text": "x=4 y=100", "x": 4}


def test_explicit_edges_route_values_by_edge_not_by_name() -> None:
    start = StartNode(name="start", inputs=props(a="integer", b="integer"))
    sub = tool_node("sub", props(x="integer", y="integer"), props(r="integer"))
    end = EndNode(name="end", inputs=props(r="integer"))
    # a -> y and b -> x: swapped on purpose; name-based wiring would not do this.
    flow = make_flow("main", [start, sub, end], [(start, sub), (sub, end)],
                     [(start, "a", sub, "y"), (start, "b", sub, "x"), (sub, "r", end, "r")])
    assert runtime({"sub": lambda x, y: x - y}).run(flow, {"a": 10, "b": 3}).outputs == {"r": -7}


def test_linear_flow_with_edges_matches_name_based_result() -> None:
    steps = [tool_node("inc", props(x="integer"), props(x="integer"), name=f"inc{i}")
             for i in range(3)]
    flow = linear_flow("main", *steps, inputs=props(x="integer"), outputs=props(x="integer"),
                       wiring="edges")
    assert flow.data_flow_connections is not None
    assert runtime({"inc": lambda x: x + 1}).run(flow, {"x": 0}).outputs == {"x": 3}


def test_empty_edge_list_means_no_wiring_so_inputs_use_their_defaults() -> None:
    step = tool_node("show", [prop("x", "integer", default=-1)], props(text="string"))
    start = StartNode(name="start", inputs=props(x="integer"))
    end = EndNode(name="end", inputs=[prop("text", "string", default="unset")])
    flow = make_flow("main", [start, step, end], [(start, step), (step, end)], [])
    show = Spy(lambda x: f"x={x}")
    result = runtime({"show": show}).run(flow, {"x": 5})
    assert show.values("x") == [-1]
    assert result.outputs == {"text": "unset"}


def test_a_sync_wrapper_returning_a_coroutine_is_awaited() -> None:
    """Decorators often hide that a tool is async (functools.wraps does not tell)."""
    import functools

    async def add(a: int, b: int) -> int:
        return a + b

    @functools.wraps(add)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return add(*args, **kwargs)

    result = runtime({"add": wrapped}).run(adder_flow(), {"a": 2, "b": 3})
    assert result.status == "finished", result.error
    assert result.outputs == {"total": 5}
