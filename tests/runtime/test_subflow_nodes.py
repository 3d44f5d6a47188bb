"""ParallelFlowNode (inputs, outputs, branches) and CatchExceptionNode."""

from __future__ import annotations

from typing import Any

from loom.spec import (
    CatchExceptionNode,
    EndNode,
    FlowNode,
    ParallelFlowNode,
    StartNode,
)

from .conftest import Recorder, Spy, linear_flow, make_flow, prop, props, runtime, tool_node

# --- ParallelFlowNode ----------------------------------------------------------------


def test_parallel_flow_node_fans_out_shared_inputs_and_merges_outputs() -> None:
    rec = Recorder()
    subflows = [
        linear_flow("info", tool_node("info", props(username="string"), props(info="string")),
                    inputs=props(username="string"), outputs=props(info="string")),
        linear_flow("plan", tool_node("plan", props(username="string", day="integer"),
                                      props(plan="string")),
                    inputs=props(username="string", day="integer"), outputs=props(plan="string")),
        linear_flow("clock", tool_node("clock", [], props(now="string")),
                    outputs=props(now="string")),
    ]
    fan = ParallelFlowNode(name="fan", subflows=subflows)
    assert [p.title for p in fan.inputs or []] == ["username", "day"]
    flow = linear_flow("main", fan, inputs=props(username="string", day="integer"),
                       outputs=props(info="string", plan="string", now="string"))
    rt = runtime({
        "info": rec.sync_tool("info", result=lambda username: f"user {username}"),
        "plan": rec.async_tool("plan", result=lambda username, day: f"{username}@{day}"),
        "clock": rec.sync_tool("clock", result="09:30"),
    })
    result = rt.run(flow, {"username": "ada", "day": 3})
    assert result.status == "finished", result.error
    assert result.outputs == {"info": "user ada", "plan": "ada@3", "now": "09:30"}
    # each subflow gets only the inputs its StartNode declares
    assert {s.name: s.args for s in rec.spans} == {
        "info": {"username": "ada"}, "plan": {"username": "ada", "day": 3}, "clock": {}}


def test_subflow_branch_names_are_discarded_and_flow_defaults_apply() -> None:
    odd_end = linear_flow("odd", tool_node("odd", [], props(a="integer")),
                          outputs=props(a="integer"), branch_name="weird")
    start = StartNode(name="start")
    both = EndNode(name="end_b", inputs=[prop("b", "integer", default=1)])
    # the subflow's EndNode lacks 'c': its flow-level default is used
    partial = make_flow("partial", [start, both], [(start, both)],
                        outputs=[prop("b", "integer"), prop("c", "string", default="dflt")])
    fan = ParallelFlowNode(name="fan", subflows=[odd_end, partial])
    assert fan.branches == ["next"]
    flow = linear_flow("main", fan, outputs=fan.outputs or [])
    result = runtime({"odd": lambda: 7}).run(flow)
    assert result.outputs == {"a": 7, "b": 1, "c": "dflt"}
    assert result.branch == "next"


def test_parallel_flow_node_without_subflows_just_continues() -> None:
    fan = ParallelFlowNode(name="fan", subflows=[])
    flow = linear_flow("main", fan, tool_node("after", [], props(done="boolean")),
                       outputs=props(done="boolean"))
    assert runtime({"after": lambda: True}).run(flow).outputs == {"done": True}


# --- CatchExceptionNode --------------------------------------------------------------


def risky(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative input {x}\nsecond line with details")
    return x * 2


def catching_flow() -> Any:
    inner = linear_flow(
        "risky_flow", tool_node("risky", props(x="integer"), props(y="integer"),
                                name="risky_step"),
        inputs=props(x="integer"), outputs=[prop("y", "integer", default=-1)],
        branch_name="ok",
    )
    catch = CatchExceptionNode(name="guard", subflow=inner)
    assert catch.branches == ["caught_exception_branch", "ok"]
    start = StartNode(name="start", inputs=props(x="integer"))
    report = tool_node("report", [prop("caught_exception_info", {"type": "string"})],
                       props(report="string"))
    outputs = [prop("y", "integer"),
               prop("caught_exception_info", {"anyOf": [{"type": "string"}, {"type": "null"}]}),
               prop("report", "string", default="")]
    fine = EndNode(name="fine", inputs=outputs[:2], branch_name="fine")
    caught = EndNode(name="caught", inputs=outputs, branch_name="caught")
    return make_flow(
        "main", [start, catch, report, fine, caught],
        [(start, catch), (catch, fine, "ok"), (catch, report, "caught_exception_branch"),
         (report, caught)],
        outputs=outputs,
    )


def test_catch_exception_node_success_path_sets_info_to_null() -> None:
    report = Spy("reported")
    rt = runtime({"risky": risky, "report": report})
    result = rt.run(catching_flow(), {"x": 4})
    assert result.status == "finished", result.error
    assert result.branch == "fine"  # the subflow's EndNode branch ('ok') was followed
    assert result.outputs == {"y": 8, "caught_exception_info": None, "report": ""}
    assert report.calls == []


def test_catch_exception_node_continues_on_the_caught_branch_with_defaults() -> None:
    report = Spy("reported")
    rt = runtime({"risky": risky, "report": report})
    result = rt.run(catching_flow(), {"x": -3})
    assert result.status == "finished", result.error
    assert result.branch == "caught"
    info = result.outputs["caught_exception_info"]
    assert result.outputs["y"] == -1 and result.outputs["report"] == "reported"
    assert report.values("caught_exception_info") == [info]
    assert "tool 'risky' raised ValueError: negative input -3" in info
    assert "main > guard > risky_flow > risky_step" in info
    assert "second line" not in info and "Traceback" not in info
    assert len(info) <= 300


def test_catch_exception_node_catches_a_failure_deep_in_nested_subflows() -> None:
    deepest = linear_flow("deepest", tool_node("risky", props(x="integer"), props(y="integer")),
                          inputs=props(x="integer"), outputs=props(y="integer"))
    middle = linear_flow("middle", FlowNode(name="call_deepest", subflow=deepest),
                         inputs=props(x="integer"), outputs=[prop("y", "integer", default=0)])
    guard = CatchExceptionNode(name="guard", subflow=middle)
    start = StartNode(name="start", inputs=props(x="integer"))
    after = tool_node("after", props(y="integer"), props(done="string"))
    outputs = [prop("done"), prop("caught_exception_info", {"type": ["string", "null"]})]
    end = EndNode(name="end", inputs=outputs)
    flow = make_flow("main", [start, guard, after, end],
                     [(start, guard), (guard, after, "next"),
                      (guard, after, "caught_exception_branch"), (after, end)])
    rt = runtime({"risky": risky, "after": lambda y: f"after y={y}"})
    ok = rt.run(flow, {"x": 5})
    assert ok.outputs == {"done": "after y=10", "caught_exception_info": None}
    caught = rt.run(flow, {"x": -1})
    assert caught.status == "finished", caught.error
    assert caught.outputs["done"] == "after y=0"
    assert "(in main > guard > middle > call_deepest > deepest > risky)" in (
        caught.outputs["caught_exception_info"])
