"""AgentNode in flows: inputs and outputs, branches, the shared conversation, an
agent that is a Flow, agents in parallel branches."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import pytest

from loom.spec import (
    ControlFlowEdge,
    DataFlowEdge,
    EndNode,
    Flow,
    Node,
    StartNode,
    ToolNode,
)
from loom.spec.nodes import AgentNode, InputMessageNode, OutputMessageNode, ParallelFlowNode
from loom.spec.property import Property
from loom.spec.remote_agents import A2AAgent, A2AConnectionConfig
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply

from .conftest import (
    Recorder,
    make_agent,
    prop,
    props,
    runtime,
    server_tool,
    slow_cancellable_tool,
    system_prompt,
    tool_messages,
)

_ids = itertools.count(1)


def chain(name: str, *steps: Node, inputs: Sequence[Property] = (),
          outputs: Sequence[Property] = (), branches: dict[int, str] | None = None) -> Flow:
    """StartNode(inputs) -> steps -> EndNode(outputs), wired by names."""
    start = StartNode(name="start", inputs=list(inputs))
    end = EndNode(name="end", inputs=list(outputs))
    nodes: list[Node] = [start, *steps, end]
    edges = [ControlFlowEdge(name=f"c{next(_ids)}", from_node=a, to_node=b)
             for a, b in itertools.pairwise(nodes)]
    return Flow(name=name, start_node=start, nodes=nodes, control_flow_connections=edges)


def submit(**values: Any) -> ToolCallsReply:
    return ToolCallsReply([ScriptedToolCall("submit_outputs", values)])


def test_an_agent_node_takes_inputs_and_gives_outputs_to_the_next_nodes(
        fake_llm: FakeLlmServer) -> None:
    agent = make_agent(fake_llm, name="summarizer", prompt="Summarize {{text}} in {{words}} words.",
                       outputs=[prop("summary"), prop("length", "integer")],
                       human_in_the_loop=False)
    step = AgentNode(name="summarize", agent=agent)
    shout = ToolNode(name="shout", tool=server_tool("shout", props(summary="string"),
                                                    props(loud="string")))
    flow = chain("pipeline", step, shout, inputs=[prop("text"), prop("words", "integer")],
                 outputs=[prop("loud"), prop("length", "integer")])
    fake_llm.script(None, submit(summary="cats nap", length=2))
    result = runtime({"shout": lambda summary: summary.upper()}).run(
        flow, {"text": "a story about cats", "words": 2})
    assert result.status == "finished", result.error
    assert result.outputs == {"loud": "CATS NAP", "length": 2}
    assert system_prompt(fake_llm.requests[0]) == "Summarize a story about cats in 2 words."


def test_an_agent_node_can_choose_one_of_its_branches(fake_llm: FakeLlmServer) -> None:
    agent = make_agent(fake_llm, name="reviewer", human_in_the_loop=False)
    review = AgentNode(name="review", agent=agent, branches=["approve", "reject"])
    start = StartNode(name="start")
    yes = EndNode(name="yes", branch_name="approved")
    no = EndNode(name="no", branch_name="rejected")
    flow = Flow(name="review_flow", start_node=start, nodes=[start, review, yes, no],
                control_flow_connections=[
                    ControlFlowEdge(name="s", from_node=start, to_node=review),
                    ControlFlowEdge(name="y", from_node=review, to_node=yes,
                                    from_branch="approve"),
                    ControlFlowEdge(name="n", from_node=review, to_node=no,
                                    from_branch="reject")])
    fake_llm.script_sequence([submit(next_branch="maybe"), submit(next_branch="reject")])
    result = runtime().run(flow)
    assert result.status == "finished", result.error
    assert result.branch == "rejected"
    assert "'next_branch' must be one of ['approve', 'reject']" in tool_messages(
        fake_llm.requests[-1])[0]


def test_the_agent_shares_the_flow_conversation(fake_llm: FakeLlmServer) -> None:
    ask = InputMessageNode(name="ask", message="What do you need?")
    agent = make_agent(fake_llm, name="support", human_in_the_loop=False)
    helper = AgentNode(name="support_step", agent=agent)
    bye = OutputMessageNode(name="bye", message="Goodbye!")
    flow = chain("desk", ask, helper, bye)
    fake_llm.script("printer", "Restart the printer.")
    rt = runtime()
    waiting = rt.run(flow)
    result = rt.resume(waiting.run_id or "", {waiting.pending[0].id: "my printer is stuck"})
    assert result.status == "finished", result.error
    sent = fake_llm.requests[0]["messages"]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("assistant", "What do you need?"), ("user", "my printer is stuck")]
    assert [m["content"] for m in result.messages] == [
        "What do you need?", "my printer is stuck", "Restart the printer.", "Goodbye!"]


def test_an_agent_node_whose_agent_is_a_flow_runs_the_flow(fake_llm: FakeLlmServer) -> None:
    inner = chain("doubler", ToolNode(name="double", tool=server_tool(
        "double", props(x="integer"), props(y="integer"))),
        inputs=[prop("x", "integer")], outputs=[prop("y", "integer")])
    node = AgentNode(name="as_agent", agent=inner)
    flow = chain("outer", node, inputs=[prop("x", "integer")], outputs=[prop("y", "integer")])
    result = runtime({"double": lambda x: 2 * x}).run(flow, {"x": 21})
    assert result.status == "finished", result.error
    assert result.outputs == {"y": 42}


def test_agents_run_inside_parallel_flow_branches(fake_llm: FakeLlmServer) -> None:
    fake_llm.latency = 0.2
    recorder = Recorder()

    def agent_branch(name: str, tool: str) -> Flow:
        agent = make_agent(fake_llm, name=name, prompt=f"You are {name}.",
                           tools=[server_tool(tool, [], props(value="string"))],
                           outputs=[prop(f"{name}_answer")], human_in_the_loop=False)
        return chain(f"{name}_flow", AgentNode(name=f"{name}_step", agent=agent),
                     outputs=[prop(f"{name}_answer")])

    plain = chain("plain_flow", ToolNode(name="plain_step", tool=server_tool(
        "plain", [], props(plain_value="string"))), outputs=[prop("plain_value")])
    parallel = ParallelFlowNode(name="fan_out", subflows=[
        agent_branch("alpha", "alpha_tool"), agent_branch("beta", "beta_tool"), plain])
    flow = chain("team", parallel, outputs=[prop("alpha_answer"), prop("beta_answer"),
                                            prop("plain_value")])
    for name in ("alpha", "beta"):
        fake_llm.script_sequence([
            ToolCallsReply([ScriptedToolCall(f"{name}_tool")]),
            ToolCallsReply([ScriptedToolCall("submit_outputs", {f"{name}_answer": name * 2})]),
        ], system=f"You are {name}.")
    tools = {"alpha_tool": recorder.async_tool("alpha_tool", 0.1, "a"),
             "beta_tool": recorder.async_tool("beta_tool", 0.1, "b"),
             "plain": recorder.async_tool("plain", 0.1, "p")}
    result = runtime(tools).run(flow)
    assert result.status == "finished", result.error
    assert result.outputs == {"alpha_answer": "alphaalpha", "beta_answer": "betabeta",
                              "plain_value": "p"}
    alpha_calls = [r for r in fake_llm.recorded if system_prompt(r.body) == "You are alpha."]
    beta_calls = [r for r in fake_llm.recorded if system_prompt(r.body) == "You are beta."]
    assert len(alpha_calls) == len(beta_calls) == 2
    # the two agents' first LLM calls and the plain branch's tool were under way at once
    spans = [(alpha_calls[0].started, alpha_calls[0].ended or 0.0),
             (beta_calls[0].started, beta_calls[0].ended or 0.0),
             *((span.start, span.end or 0.0) for span in recorder.named("plain"))]
    assert len(spans) == 3
    assert max(start for start, _ in spans) < min(end for _, end in spans)
    for record in fake_llm.recorded:  # each agent saw only its own turns
        ids = [c["id"] for m in record.body["messages"] for c in m.get("tool_calls") or ()]
        results = [m["tool_call_id"] for m in record.body["messages"] if m["role"] == "tool"]
        assert ids == results


@pytest.mark.timeout(10)
async def test_a_failing_sibling_branch_cancels_the_agents_tool_calls(
    fake_llm: FakeLlmServer,
) -> None:
    # The agent's branch is cancelled while two of its tool calls run: both are
    # cancelled, and have cleaned up by the time arun returns.
    events: list[str] = []
    both_started = asyncio.Event()

    def on_start() -> None:
        if len(events) == 2:
            both_started.set()

    slow = slow_cancellable_tool(events, on_start)

    async def fail() -> str:
        await asyncio.wait_for(both_started.wait(), 5)
        raise ConnectionError("backend unreachable")

    agent = make_agent(fake_llm, name="worker", human_in_the_loop=False,
                       tools=[server_tool("slow", props(key="string"), props(v="string"))],
                       outputs=[prop("answer")])
    fake_llm.script_sequence([ToolCallsReply([ScriptedToolCall("slow", {"key": "a"}),
                                              ScriptedToolCall("slow", {"key": "b"})]),
                              "unreachable"])
    parallel = ParallelFlowNode(name="fan_out", subflows=[
        chain("agent_flow", AgentNode(name="agent_step", agent=agent), outputs=[prop("answer")]),
        chain("failing_flow", ToolNode(name="fail_step", tool=server_tool("fail", [], []))),
    ])
    result = await runtime({"slow": slow, "fail": fail}).arun(chain("main", parallel))
    assert result.status == "failed" and result.error is not None
    assert "backend unreachable" in result.error.message
    assert sorted(events) == ["cancelled a", "cancelled b", "cleaned a", "cleaned b",
                              "start a", "start b"]


def test_an_a2a_agent_that_cannot_be_reached_fails_the_node_naming_it(
    fake_llm: FakeLlmServer,
) -> None:
    remote = A2AAgent(name="far_away", agent_url="http://127.0.0.1:9",
                      connection_config=A2AConnectionConfig(name="conn"),
                      session_parameters={"max_retries": 0}, inputs=[prop("question")])
    flow = chain("main", AgentNode(name="delegate", agent=remote), inputs=[prop("question")])
    result = runtime().run(flow, {"question": "anyone there?"})
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > delegate"
    assert "A2A agent 'far_away' at http://127.0.0.1:9 failed" in result.error.message


def test_data_edges_feed_and_read_an_agent_node(fake_llm: FakeLlmServer) -> None:
    agent = make_agent(fake_llm, name="namer", prompt="Name a {{kind}}.",
                       outputs=[prop("name")], human_in_the_loop=False)
    start = StartNode(name="start", inputs=[prop("animal")])
    node = AgentNode(name="name_it", agent=agent)
    end = EndNode(name="end", inputs=[prop("result")])
    flow = Flow(
        name="edges", start_node=start, nodes=[start, node, end],
        control_flow_connections=[ControlFlowEdge(name="a", from_node=start, to_node=node),
                                  ControlFlowEdge(name="b", from_node=node, to_node=end)],
        data_flow_connections=[
            DataFlowEdge(name="d1", source_node=start, source_output="animal",
                         destination_node=node, destination_input="kind"),
            DataFlowEdge(name="d2", source_node=node, source_output="name",
                         destination_node=end, destination_input="result")])
    fake_llm.script(None, submit(name="Felix"))
    result = runtime().run(flow, {"animal": "cat"})
    assert result.status == "finished", result.error
    assert result.outputs == {"result": "Felix"}
    assert system_prompt(fake_llm.requests[0]) == "Name a cat."
