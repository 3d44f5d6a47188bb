"""Agents that wait: client tools, confirmations, the user's next message; resumed
from a checkpoint without calling anything twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loom.spec import ControlFlowEdge, EndNode, Flow, StartNode
from loom.spec.nodes import AgentNode
from loom.stores import MemoryStore
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply

from .conftest import (
    client_tool,
    make_agent,
    prop,
    props,
    runtime,
    server_tool,
    tool_messages,
)


def call(name: str, **arguments: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, arguments)


def counting(result: Any) -> Any:
    def tool(**kwargs: Any) -> Any:
        tool.calls.append(kwargs)  # type: ignore[attr-defined]
        return result

    tool.calls = []  # type: ignore[attr-defined]
    return tool


def test_a_client_tool_round_trip_through_a_checkpoint(fake_llm: FakeLlmServer) -> None:
    price = server_tool("get_price", props(item="string"), props(price="number"))
    where = client_tool("get_location", [], props(city="string"))
    agent = make_agent(fake_llm, name="shopper", tools=[price, where], human_in_the_loop=False)
    fake_llm.script_sequence([
        ToolCallsReply([call("get_price", item="tea"), call("get_location")]),
        "Tea costs 3.5 in Paris.",
    ])
    get_price = counting(3.5)
    store = MemoryStore()
    first = runtime({"get_price": get_price}, store=store).run(agent)
    assert first.status == "waiting" and first.run_id
    [request] = first.pending
    assert request.kind == "client_tool" and request.node == "shopper"
    assert request.tool_call == {"id": "call_0_1", "name": "get_location", "arguments": {}}
    assert get_price.calls == [{"item": "tea"}]
    assert store.load(first.run_id).status == "waiting"

    # Another runtime (as another process would) resumes it from the stored state.
    resumed = runtime({"get_price": get_price}, store=store).resume(
        first.run_id, {request.id: {"city": "Paris"}})
    assert resumed.status == "finished", resumed.error
    assert get_price.calls == [{"item": "tea"}]  # replayed from the journal, not called again
    assert len(fake_llm.requests) == 2  # the first LLM turn was replayed too
    assert tool_messages(fake_llm.requests[-1]) == ["3.5", "Paris"]
    assert resumed.messages[-1]["content"] == "Tea costs 3.5 in Paris."


def test_a_checkpoint_in_sqlite_resumes_in_another_runtime(fake_llm: FakeLlmServer,
                                                          tmp_path: Path) -> None:
    sqlite = pytest.importorskip("loom.stores.sqlite")
    agent = make_agent(fake_llm, name="asker", human_in_the_loop=False,
                       tools=[client_tool("ask_client", props(q="string"), props(a="string"))])
    fake_llm.script_sequence([ToolCallsReply([call("ask_client", q="why")]), "because"])
    path = str(tmp_path / "runs.sqlite3")
    first = runtime(store=sqlite.SqliteStore(path)).run(agent)
    assert first.status == "waiting" and first.run_id
    store = sqlite.SqliteStore(path)
    resumed = runtime(store=store).resume(first.run_id, {first.pending[0].id: "because"})
    store.close()
    assert resumed.status == "finished", resumed.error
    assert tool_messages(fake_llm.requests[-1]) == ["because"]


def test_several_client_calls_of_one_answer_wait_together(fake_llm: FakeLlmServer) -> None:
    agent = make_agent(fake_llm, human_in_the_loop=False,
                       tools=[client_tool("ask", props(q="string"), props(a="string"))])
    fake_llm.script_sequence([ToolCallsReply([call("ask", q="one"), call("ask", q="two")]),
                              "thanks"])
    rt = runtime()
    first = rt.run(agent)
    assert first.status == "waiting"
    assert [r.tool_call["arguments"] for r in first.pending if r.tool_call] == [
        {"q": "one"}, {"q": "two"}]
    resumed = rt.resume(first.run_id or "", {r.id: r.tool_call["arguments"]["q"].upper()
                                             for r in first.pending if r.tool_call})
    assert resumed.status == "finished", resumed.error
    assert tool_messages(fake_llm.requests[-1]) == ["ONE", "TWO"]


@pytest.mark.parametrize("answer", [True, False])
def test_a_tool_that_needs_confirmation_waits_for_yes_or_no(fake_llm: FakeLlmServer,
                                                            answer: bool) -> None:
    delete = server_tool("delete_file", props(path="string"), props(done="boolean"),
                         requires_confirmation=True)
    agent = make_agent(fake_llm, tools=[delete], human_in_the_loop=False)
    fake_llm.script_sequence([ToolCallsReply([call("delete_file", path="/tmp/x")]), "ok"])
    tool = counting(True)
    rt = runtime({"delete_file": tool})
    first = rt.run(agent)
    [request] = first.pending
    assert request.kind == "confirmation"
    assert request.prompt == 'Run tool \'delete_file\' with {"path": "/tmp/x"}?'
    assert tool.calls == []
    resumed = rt.resume(first.run_id or "", {request.id: answer})
    assert resumed.status == "finished", resumed.error
    [result] = tool_messages(fake_llm.requests[-1])
    if answer:
        assert tool.calls == [{"path": "/tmp/x"}] and result == "true"
    else:
        assert tool.calls == [] and "refused" in result


def test_at_the_top_level_the_agent_waits_for_each_user_message(fake_llm: FakeLlmServer) -> None:
    agent = make_agent(fake_llm, name="Buddy", prompt="Be brief.")
    fake_llm.script("hello", "Hi! How can I help?")
    fake_llm.script("weather", "Sunny.")
    rt = runtime()
    started = rt.run(agent)
    assert started.status == "waiting" and fake_llm.requests == []
    [ask] = started.pending
    assert ask.kind == "input" and ask.prompt is None and ask.node == "Buddy"
    second = rt.resume(started.run_id or "", {ask.id: "hello there"})
    assert second.status == "waiting"
    assert second.pending[0].prompt == "Hi! How can I help?"
    third = rt.resume(second.run_id or "", {second.pending[0].id: "and the weather?"})
    assert third.status == "waiting" and third.pending[0].prompt == "Sunny."
    assert [(m["role"], m["content"]) for m in third.messages] == [
        ("user", "hello there"), ("assistant", "Hi! How can I help?"),
        ("user", "and the weather?"), ("assistant", "Sunny.")]
    assert len(fake_llm.requests) == 2  # earlier turns are replayed, not asked again
    last = fake_llm.requests[-1]["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "user"]


def test_in_a_flow_an_agent_with_pending_outputs_asks_the_user(fake_llm: FakeLlmServer) -> None:
    agent = make_agent(fake_llm, name="intake", outputs=[prop("name")])
    node = AgentNode(name="intake_step", agent=agent)
    start, end = StartNode(name="start"), EndNode(name="end", inputs=[prop("name")])
    flow = Flow(name="onboarding", start_node=start, nodes=[start, node, end],
                control_flow_connections=[
                    ControlFlowEdge(name="a", from_node=start, to_node=node),
                    ControlFlowEdge(name="b", from_node=node, to_node=end)])
    fake_llm.script("Ada", ToolCallsReply([ScriptedToolCall("submit_outputs",
                                                            {"name": "Ada Lovelace"})]))
    fake_llm.script(None, "What is your name?")
    rt = runtime()
    first = rt.run(flow)
    assert first.status == "waiting"
    [ask] = first.pending
    assert ask.kind == "input" and ask.prompt == "What is your name?"
    assert ask.node == "onboarding > intake_step"
    done = rt.resume(first.run_id or "", {ask.id: "I am Ada"})
    assert done.status == "finished", done.error
    assert done.outputs == {"name": "Ada Lovelace"}
