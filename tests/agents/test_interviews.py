"""An interviewing agent: an Agent in an AgentNode with ``human_in_the_loop`` and
declared outputs asks the user until it submits them; the outputs' defaults apply
only when it ends without them (no one to ask, or its iteration bound)."""

from __future__ import annotations

import itertools
from typing import Any

from loom.spec import ControlFlowEdge, EndNode, Flow, StartNode
from loom.spec.nodes import AgentNode
from loom.stores import MemoryStore
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply

from .conftest import make_agent, prop, props, runtime, server_tool

OUTPUTS = [prop("name", default="unknown"), prop("age", "integer", default=0)]


def interview_flow(server: FakeLlmServer, outputs: list[Any] | None = None, **agent: Any
                   ) -> Flow:
    outputs = OUTPUTS if outputs is None else outputs
    interviewer = make_agent(server, name="interviewer", outputs=outputs,
                             prompt="Ask the user their name and age, then submit them.",
                             **agent)
    start = StartNode(name="start")
    node = AgentNode(name="interview", agent=interviewer)
    end = EndNode(name="end", inputs=list(outputs))
    nodes = [start, node, end]
    return Flow(name="onboarding", start_node=start, nodes=nodes, control_flow_connections=[
        ControlFlowEdge(name=f"e{i}", from_node=a, to_node=b)
        for i, (a, b) in enumerate(itertools.pairwise(nodes))])


def submit(**values: Any) -> ToolCallsReply:
    return ToolCallsReply([ScriptedToolCall("submit_outputs", values)])


def test_a_plain_answer_waits_for_the_user_until_the_outputs_are_submitted(
        fake_llm: FakeLlmServer) -> None:
    fake_llm.script_sequence(["What is your name?", "And your age?", submit(name="Ada", age=36)])
    store = MemoryStore()
    first = runtime(store=store).run(interview_flow(fake_llm))
    assert first.status == "waiting", first.error
    [request] = first.pending
    assert request.kind == "input" and request.prompt == "What is your name?"
    assert request.node == "onboarding > interview"
    second = runtime(store=store).resume(first.run_id or "", {request.id: "Ada"})
    assert second.status == "waiting" and second.pending[0].prompt == "And your age?"
    done = runtime(store=store).resume(second.run_id or "", {second.pending[0].id: "36"})
    assert done.status == "finished", done.error
    assert done.outputs == {"name": "Ada", "age": 36}
    assert [m["content"] for m in done.messages if m["role"] == "user"] == ["Ada", "36"]
    assert len(fake_llm.requests) == 3


def test_without_a_human_in_the_loop_a_plain_answer_ends_with_the_defaults(
        fake_llm: FakeLlmServer) -> None:
    fake_llm.script_sequence(["I cannot ask anyone."])
    result = runtime().run(interview_flow(fake_llm, human_in_the_loop=False))
    assert result.status == "finished", result.error
    assert result.outputs == {"name": "unknown", "age": 0}


def test_at_its_iteration_bound_the_agent_ends_with_the_defaults(
        fake_llm: FakeLlmServer) -> None:
    ping = server_tool("ping", [], props(pong="string"))
    fake_llm.script(None, ToolCallsReply([ScriptedToolCall("ping", {})]))
    flow = interview_flow(fake_llm, tools=[ping], metadata={"loom": {"max_iterations": 3}})
    result = runtime({"ping": lambda: "pong"}).run(flow)
    assert result.status == "finished", result.error
    assert result.outputs == {"name": "unknown", "age": 0}
    assert len(fake_llm.requests) == 3


def test_a_required_output_still_fails_at_the_bound(fake_llm: FakeLlmServer) -> None:
    ping = server_tool("ping", [], props(pong="string"))
    fake_llm.script(None, ToolCallsReply([ScriptedToolCall("ping", {})]))
    flow = interview_flow(fake_llm, outputs=[prop("name")], tools=[ping],
                          metadata={"loom": {"max_iterations": 3}})
    result = runtime({"ping": lambda: "pong"}).run(flow)
    assert result.status == "failed" and result.error is not None
    assert "reached its limit of 3 LLM calls" in result.error.message


def test_an_agent_node_without_outputs_ends_at_its_plain_answer(
        fake_llm: FakeLlmServer) -> None:
    fake_llm.script_sequence(["Hello there."])
    result = runtime().run(interview_flow(fake_llm, outputs=[]))
    assert result.status == "finished", result.error
    assert result.messages[-1]["content"] == "Hello there."
