"""ManagerWorkers, Swarm and SpecializedAgent over real HTTP."""

from __future__ import annotations

import json
from typing import Any

from loom.spec import EndNode, Flow, StartNode, ToolNode
from loom.spec.agents import (
    AgentSpecializationParameters,
    ManagerWorkers,
    SpecializedAgent,
    Swarm,
)
from loom.spec.flows.edges import ControlFlowEdge
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply

from .conftest import (
    make_agent,
    prop,
    props,
    runtime,
    server_tool,
    system_prompt,
    tool_messages,
    tool_names,
)


def call(name: str, **arguments: Any) -> ToolCallsReply:
    return ToolCallsReply([ScriptedToolCall(name, arguments)])


def requests_of(server: FakeLlmServer, prompt: str) -> list[dict[str, Any]]:
    return [body for body in server.requests if system_prompt(body) == prompt]


def chat(rt: Any, component: Any, *messages: str, inputs: dict[str, Any] | None = None) -> Any:
    """Start a conversation and send each message in turn; the last result."""
    result = rt.run(component, inputs or {})
    for text in messages:
        assert result.status == "waiting", result.error
        [request] = result.pending
        assert request.kind == "input"
        result = rt.resume(result.run_id, {request.id: text})
    return result


def test_the_manager_delegates_to_a_worker_that_uses_its_own_tools(fake_llm: FakeLlmServer
                                                                    ) -> None:
    search = server_tool("search", props(query="string"), props(hits="string"))
    researcher = make_agent(fake_llm, name="Researcher", prompt="You research.", tools=[search],
                            description="finds facts")
    writer = make_agent(fake_llm, name="Writer", prompt="You write.")
    manager = make_agent(fake_llm, name="Manager", prompt="You manage.")
    team = ManagerWorkers(name="newsroom", group_manager=manager, workers=[researcher, writer])
    fake_llm.script_sequence([
        call("Researcher", task="Find facts about owls"),
        call("Researcher", task="And about their eyes?"),
        "Owls hunt at night and see well in the dark.",
    ], system="You manage.")
    fake_llm.script_sequence([
        call("search", query="owls"), "Owls hunt at night.", "Their eyes are huge.",
    ], system="You research.")
    searched: list[str] = []
    rt = runtime({"search": lambda query: searched.append(query) or f"facts on {query}"})
    result = chat(rt, team, "Write about owls")
    assert result.status == "waiting", result.error
    assert result.pending[0].prompt == "Owls hunt at night and see well in the dark."
    assert searched == ["owls"]

    manager_calls = requests_of(fake_llm, "You manage.")
    assert tool_names(manager_calls[0]) == ["Researcher", "Writer"]
    assign = manager_calls[0]["tools"][0]["function"]
    assert "finds facts" in assign["description"]
    assert assign["parameters"]["required"] == ["task"]
    assert tool_messages(manager_calls[-1]) == ["Owls hunt at night.", "Their eyes are huge."]

    worker_calls = requests_of(fake_llm, "You research.")
    assert tool_names(worker_calls[0]) == ["search"]
    # The worker never sees the user; it remembers its earlier task.
    last = [(m["role"], m["content"]) for m in worker_calls[-1]["messages"][1:]]
    assert last[0] == ("user", "Find facts about owls")
    assert last[-1] == ("user", "And about their eyes?")
    assert ("assistant", "Owls hunt at night.") in last
    assert all("Write about owls" not in (m["content"] or "")
               for body in worker_calls for m in body["messages"])
    # The user's conversation holds the manager's side only.
    assert [m.get("agent") for m in result.messages if m["role"] == "assistant"] == [
        "Manager", "Manager", "Manager"]


def test_a_flow_worker_is_called_with_its_inputs(fake_llm: FakeLlmServer) -> None:
    start = StartNode(name="start", inputs=[prop("amount", "number")])
    step = ToolNode(name="convert", tool=server_tool("to_eur", props(amount="number"),
                                                     props(eur="number")))
    end = EndNode(name="end", inputs=[prop("eur", "number")])
    converter = Flow(name="Converter", description="converts dollars", start_node=start,
                     nodes=[start, step, end], control_flow_connections=[
                         ControlFlowEdge(name="a", from_node=start, to_node=step),
                         ControlFlowEdge(name="b", from_node=step, to_node=end)])
    manager = make_agent(fake_llm, name="Boss", prompt="You decide.", human_in_the_loop=False)
    team = ManagerWorkers(name="office", group_manager=manager, workers=[converter])
    fake_llm.script_sequence([call("Converter", amount=10), "10 USD is 9 EUR."])
    result = runtime({"to_eur": lambda amount: amount * 0.9}).run(team)
    assert result.status == "finished", result.error
    tool = fake_llm.requests[0]["tools"][0]["function"]
    assert tool["parameters"]["required"] == ["amount"]
    assert json.loads(tool_messages(fake_llm.requests[-1])[0]) == {"eur": 9.0}


def swarm(server: FakeLlmServer, handoff: str, **extra: Any) -> tuple[Swarm, Any, Any]:
    receptionist = make_agent(server, name="receptionist", prompt="You are the receptionist.",
                              description="greets patients")
    doctor = make_agent(server, name="doctor", prompt="You are the doctor.",
                        description="treats patients")
    return (Swarm(name="clinic", first_agent=receptionist,
                  relationships=[[receptionist, doctor]], handoff=handoff, **extra),
            receptionist, doctor)


def test_a_swarm_hands_the_conversation_over(fake_llm: FakeLlmServer) -> None:
    team, _, _ = swarm(fake_llm, "optional")
    fake_llm.script_sequence([call("handoff_to_doctor")], system="You are the receptionist.")
    fake_llm.script("itches", "Use this cream twice a day.", system="You are the doctor.")
    fake_llm.script("thanks", "You are welcome.", system="You are the doctor.")
    result = chat(runtime(), team, "My skin itches", "thanks!")
    assert result.status == "waiting", result.error
    assert result.pending[0].prompt == "You are welcome."
    first, second, third = fake_llm.requests
    assert tool_names(first) == ["send_message_to_doctor", "handoff_to_doctor"]
    assert system_prompt(second) == system_prompt(third) == "You are the doctor."
    assert tool_names(second) == []  # the doctor has no one to involve
    assert tool_messages(second) == ["The conversation is handed over to doctor."]
    assert [m.get("agent") for m in result.messages if m["role"] == "assistant"] == [
        "receptionist", "doctor", "doctor"]
    assert result.pending[0].node == "clinic > doctor"


def test_a_swarm_member_asks_another_by_message_and_keeps_the_user(
        fake_llm: FakeLlmServer) -> None:
    team, _, _ = swarm(fake_llm, "never")
    fake_llm.script_sequence([call("send_message_to_doctor", message="Patient has a rash"),
                              "The doctor says: cream."], system="You are the receptionist.")
    fake_llm.script("rash", "Prescribe cream.", system="You are the doctor.")
    result = chat(runtime(), team, "I have a rash")
    assert result.status == "waiting", result.error
    first, doctor, last = fake_llm.requests
    assert tool_names(first) == ["send_message_to_doctor"]
    assert [(m["role"], m["content"]) for m in doctor["messages"]] == [
        ("system", "You are the doctor."), ("user", "Patient has a rash")]
    assert tool_messages(last) == ["Prescribe cream."]
    assert system_prompt(last) == "You are the receptionist."


def test_a_swarm_with_handoff_always_offers_only_hand_offs(fake_llm: FakeLlmServer) -> None:
    team, _, _ = swarm(fake_llm, "always")
    fake_llm.script(None, "Hello")
    result = chat(runtime(), team, "hi")
    assert result.status == "waiting", result.error
    assert tool_names(fake_llm.requests[0]) == ["handoff_to_doctor"]


def test_hand_offs_in_a_loop_are_bounded(fake_llm: FakeLlmServer) -> None:
    a = make_agent(fake_llm, name="ping", prompt="You are ping.", human_in_the_loop=False)
    b = make_agent(fake_llm, name="pong", prompt="You are pong.", human_in_the_loop=False)
    team = Swarm(name="table", first_agent=a, relationships=[[a, b], [b, a]],
                 metadata={"loom": {"max_iterations": 3}})
    fake_llm.script(None, call("handoff_to_pong"), system="You are ping.")
    fake_llm.script(None, call("handoff_to_ping"), system="You are pong.")
    result = runtime().run(team)
    assert result.status == "failed" and result.error is not None
    assert "handed the conversation over 3 times" in result.error.message


def test_a_specialized_agent_merges_instructions_and_tools(fake_llm: FakeLlmServer) -> None:
    base = make_agent(fake_llm, name="base", prompt="You are helpful.",
                      tools=[server_tool("clock", [], props(time="string"))])
    params = AgentSpecializationParameters(
        name="for_cats", additional_instructions="Talk about {{topic}}.",
        additional_tools=[server_tool("meow", [], props(sound="string"))],
        human_in_the_loop=False)
    special = SpecializedAgent(name="cat_expert", agent=base,
                               agent_specialization_parameters=params)
    fake_llm.script(None, "Cats purr.")
    result = runtime({"clock": lambda: "noon", "meow": lambda: "meow"}).run(
        special, {"topic": "cats"})
    assert result.status == "finished", result.error  # not waiting: HITL turned off
    [body] = fake_llm.requests
    assert system_prompt(body) == "You are helpful.\n\nTalk about cats."
    assert tool_names(body) == ["clock", "meow"]
