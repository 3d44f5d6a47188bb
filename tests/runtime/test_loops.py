"""Loops (self-loop data edges, BranchingNode exits), the step guard, unsupported nodes."""

from __future__ import annotations

from typing import Any

from loom.spec import (
    AgentNode,
    BranchingNode,
    EndNode,
    InputMessageNode,
    ParallelFlowNode,
    StartNode,
)

from .conftest import (
    Recorder,
    Spy,
    linear_flow,
    make_flow,
    prop,
    props,
    runtime,
    tool_node,
    tool_subflow,
)


def inc(counter: int) -> int:
    return counter + 1


def test_counter_loop_with_a_self_loop_data_edge() -> None:
    start = StartNode(name="start")
    step = tool_node("inc", [prop("counter", "integer", default=0)], props(counter="integer"))
    route = BranchingNode(name="until_3", mapping={"3": "done"}, inputs=[prop("counter")])
    end = EndNode(name="end", inputs=props(counter="integer"))
    flow = make_flow(
        "loop", [start, step, route, end],
        [(start, step), (step, route), (route, step, "default"), (route, end, "done")],
        [(step, "counter", step, "counter"),  # the self-loop: reads its own last output
         (step, "counter", route, "counter"), (step, "counter", end, "counter")],
    )
    spy = Spy(inc)
    result = runtime({"inc": spy}).run(flow)
    assert result.status == "finished"
    assert result.outputs == {"counter": 3}
    assert spy.values("counter") == [0, 1, 2]  # the default bootstraps the loop, then its own output


def test_counter_loop_with_name_based_wiring() -> None:
    start = StartNode(name="start", inputs=[prop("limit", "integer")])
    step = tool_node("inc", [prop("counter", "integer", default=0)], props(counter="integer"))
    check = tool_node("check", props(counter="integer", limit="integer"), props(state="string"))
    route = BranchingNode(name="route", mapping={"stop": "done"}, inputs=[prop("state")])
    end = EndNode(name="end", inputs=props(counter="integer"))
    flow = make_flow(
        "loop", [start, step, check, route, end],
        [(start, step), (step, check), (check, route), (route, step, "default"),
         (route, end, "done")],
    )
    rt = runtime({"inc": inc,
                  "check": lambda counter, limit: "stop" if counter >= limit else "go"})
    assert rt.run(flow, {"limit": 4}).outputs == {"counter": 4}
    assert rt.run(flow, {"limit": 1}).outputs == {"counter": 1}


def test_parallel_flow_node_in_a_loop_sees_fresh_values_each_pass() -> None:
    rec = Recorder()
    start = StartNode(name="start")
    step = tool_node("inc", [prop("counter", "integer", default=0)], props(counter="integer"))
    fan = ParallelFlowNode(name="fan", subflows=[
        tool_subflow("squares", "square", props(counter="integer"), props(square="integer")),
        tool_subflow("labels", "label", props(counter="integer"), props(label="string")),
    ])
    history = {"type": "array", "items": {"type": "array"}}
    acc = tool_node("acc", [prop("history", history, default=[]), prop("square", "integer"),
                            prop("label")], [prop("history", history)])
    route = BranchingNode(name="until_3", mapping={"3": "done"}, inputs=[prop("counter")])
    end = EndNode(name="end", inputs=[prop("history", history), prop("label")])
    flow = make_flow(
        "loop", [start, step, fan, acc, route, end],
        [(start, step), (step, fan), (fan, acc), (acc, route), (route, step, "default"),
         (route, end, "done")],
        [(step, "counter", step, "counter"), (step, "counter", fan, "counter"),
         (fan, "square", acc, "square"), (fan, "label", acc, "label"),
         (acc, "history", acc, "history"), (step, "counter", route, "counter"),
         (acc, "history", end, "history"), (fan, "label", end, "label")],
    )
    rt = runtime({
        "inc": inc,
        "square": rec.async_tool("square", 0.01, lambda counter: counter * counter),
        "label": rec.sync_tool("label", 0.01, lambda counter: f"n{counter}"),
        "acc": lambda history, square, label: [*history, [square, label]],
    })
    result = rt.run(flow)
    assert result.status == "finished", result.error
    assert [s.args for s in rec.named("square")] == [{"counter": c} for c in (1, 2, 3)]
    assert [s.args for s in rec.named("label")] == [{"counter": c} for c in (1, 2, 3)]
    assert result.outputs == {"history": [[1, "n1"], [4, "n2"], [9, "n3"]], "label": "n3"}


def test_max_steps_stops_an_endless_loop_with_a_clear_error() -> None:
    start = StartNode(name="start")
    step = tool_node("inc", [prop("counter", "integer", default=0)], props(counter="integer"))
    route = BranchingNode(name="never", mapping={"-1": "done"}, inputs=[prop("counter")])
    end = EndNode(name="end")
    flow = make_flow(
        "spin", [start, step, route, end],
        [(start, step), (step, route), (route, step, "default"), (route, end, "done")],
        [(step, "counter", step, "counter"), (step, "counter", route, "counter")],
    )
    spy = Spy(inc)
    result = runtime({"inc": spy}, max_steps=20).run(flow)
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "spin"
    assert "ran 20 steps without reaching an EndNode" in result.error.message
    assert "max_steps" in result.error.message
    assert len(spy.calls) == 10  # 20 steps = 10 x (inc, branch)


def test_max_steps_does_not_stop_a_loop_that_ends_in_time() -> None:
    start = StartNode(name="start")
    step = tool_node("inc", [prop("counter", "integer", default=0)], props(counter="integer"))
    route = BranchingNode(name="until_5", mapping={"5": "done"}, inputs=[prop("counter")])
    end = EndNode(name="end", inputs=props(counter="integer"))
    flow = make_flow(
        "loop", [start, step, route, end],
        [(start, step), (step, route), (route, step, "default"), (route, end, "done")],
        [(step, "counter", step, "counter"), (step, "counter", route, "counter"),
         (step, "counter", end, "counter")],
    )
    assert runtime({"inc": inc}, max_steps=10).run(flow).outputs == {"counter": 5}
    assert runtime({"inc": inc}, max_steps=9).run(flow).status == "failed"


def unsupported_result(node: Any) -> Any:
    before = tool_node("before", [], props(done="boolean"))
    flow = linear_flow("main", before, node)
    before_tool = Spy(True)
    result = runtime({"before": before_tool}).run(flow)
    assert before_tool.calls == [{}]  # the flow ran up to the unsupported node
    return result


def test_input_message_node_waits_naming_the_node_and_resumes_without_rerunning() -> None:
    before = tool_node("before", [], props(done="boolean"))
    ask = InputMessageNode(name="ask_name", message="Your name?")
    flow = linear_flow("main", before, ask, outputs=props(user_input="string"))
    before_tool = Spy(True)
    rt = runtime({"before": before_tool})
    result = rt.run(flow)
    assert result.status == "waiting" and result.run_id
    [request] = result.pending
    assert request.node == "main > ask_name" and request.kind == "input"
    assert request.prompt == "Your name?"
    resumed = rt.resume(result.run_id, {request.id: "Ada"})
    assert resumed.status == "finished" and resumed.outputs == {"user_input": "Ada"}
    assert [m["content"] for m in resumed.messages] == ["Your name?", "Ada"]
    assert before_tool.calls == [{}]  # replayed from the journal, not called again


def test_an_a2a_agent_with_nothing_to_send_fails_naming_the_node() -> None:
    from loom.spec.remote_agents import A2AAgent, A2AConnectionConfig

    remote = A2AAgent(name="remote", agent_url="http://127.0.0.1:9",
                      connection_config=A2AConnectionConfig(name="conn"),
                      session_parameters={"max_retries": 0})
    result = unsupported_result(AgentNode(name="helper", agent=remote))
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > helper"
    assert "A2A agent 'remote' at http://127.0.0.1:9 has nothing to be sent" in (
        result.error.message)
