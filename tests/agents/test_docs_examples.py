"""The agent examples of the Agent Spec docs and SDK tests, run end to end
against the test LLM server with scripted answers and small Python tools bound
by name. (flow_calling_agent.yaml / agent_calling_flow.yaml are legacy files
that loom refuses to load, so the loadable examples holding agents stand in.)"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.spec.component import Component
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply

from .conftest import runtime, system_prompt, tool_messages, tool_names


def load(shared_dir: Path, name: str) -> Component:
    folder = "docs_examples" if not name.startswith("example_") else "sdk_test_configs"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecations of the committed files
        return loom.load(shared_dir / "conformance" / folder / name)


def rt(server: FakeLlmServer, tools: dict[str, Any] | None = None) -> Any:
    return runtime(tools or {}, llm={"url": server.url})


def calls(*pairs: tuple[str, dict[str, Any]]) -> ToolCallsReply:
    return ToolCallsReply([ScriptedToolCall(name, args) for name, args in pairs])


def answer(result: Any, text: Any) -> dict[str, Any]:
    assert result.status == "waiting", result.error
    [request] = result.pending
    return {request.id: text}


def last_user(body: dict[str, Any]) -> str:
    return next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_howto_agents(shared_dir: Path, fake_llm: FakeLlmServer, suffix: str) -> None:
    agent = load(shared_dir, f"howto_agents.{suffix}")
    fake_llm.script_sequence([
        calls(("get_synonyms", {"word": "happy"})),
        "Welcome Ada! Synonyms of happy: glad, cheerful.",
    ])
    run = rt(fake_llm, {"get_synonyms": lambda word: ["glad", "cheerful"],
                        "pretty_formatting": lambda paragraph: paragraph.strip()})
    started = run.run(agent, {"user_name": "Ada"})
    result = run.resume(started.run_id, answer(started, "Synonyms of happy?"))
    assert result.status == "waiting"  # human in the loop: the next message is awaited
    assert result.pending[0].prompt == "Welcome Ada! Synonyms of happy: glad, cheerful."
    first = fake_llm.requests[0]
    assert "their name is Ada" in system_prompt(first)
    assert tool_names(first) == ["get_synonyms", "pretty_formatting"]
    assert tool_messages(fake_llm.requests[-1]) == ['["glad", "cheerful"]']


def test_math_homework_agent(shared_dir: Path, fake_llm: FakeLlmServer) -> None:
    agent = load(shared_dir, "math_homework_agent.yaml")
    fake_llm.script_sequence([calls(("multiplication_tool", {"a": 12, "b": 3})), "12 x 3 = 36"])
    run = rt(fake_llm, {"multiplication_tool": lambda a, b: a * b})
    started = run.run(agent)
    result = run.resume(started.run_id, answer(started, "What is 12 times 3?"))
    assert result.pending[0].prompt == "12 x 3 = 36"
    assert tool_messages(fake_llm.requests[-1]) == ["36"]


def test_ext_ops_assistant_agent(shared_dir: Path, fake_llm: FakeLlmServer) -> None:
    agent = load(shared_dir, "ext_ops_assistant_tutorial_agent.json")  # an OpenAiConfig
    fake_llm.script_sequence([
        calls(("read_jira_ticket", {"jira_issue_id": "INC-7"})),
        calls(("read_runbook", {"runbook_name": "latency"}),
              ("get_alarm_status", {"region": "eu", "alarm_id": "A1"})),
        "- Incident: INC-7\n- Hypothesis: a bad deploy",
    ])
    run = rt(fake_llm, {
        "read_jira_ticket": lambda jira_issue_id: f"{jira_issue_id}: latency; runbook latency",
        "read_runbook": lambda runbook_name: "# Latency runbook",
        "get_alarm_status": lambda region, alarm_id: "firing",
        "read_logs": lambda **fields: "No logs matched",
    })
    started = run.run(agent)
    result = run.resume(started.run_id, answer(started, "Investigate INC-7"))
    assert result.status == "waiting", result.error
    assert tool_messages(fake_llm.requests[-1]) == [
        "INC-7: latency; runbook latency", "# Latency runbook", "firing"]
    assert result.pending[0].prompt.startswith("- Incident: INC-7")


def test_howto_managerworkers(shared_dir: Path, fake_llm: FakeLlmServer) -> None:
    team = load(shared_dir, "howto_managerworkers.yaml")
    manager = re.compile("orchestrating the resolution")
    refunds = re.compile("process customer\\s+refund requests|customer refund requests")
    fake_llm.script_sequence([
        calls(("RefundSpecialist", {"task": "Refund order 123 for customer C9: damaged"})),
        "Your refund of 20 was processed (R-1).",
    ], system=manager)
    fake_llm.script_sequence([
        calls(("Check refund eligibility", {"order_id": "123", "customer_id": "C9"})),
        calls(("Process refund", {"order_id": "123", "amount": 20, "reason": "damaged"})),
        "Refund processed successfully, Refund ID: R-1, Amount: 20",
    ], system=refunds)
    done: list[Any] = []
    run = rt(fake_llm, {
        "Check refund eligibility": lambda order_id, customer_id: {"eligible": True,
                                                                   "max_refund": 20},
        "Process refund": lambda order_id, amount, reason: done.append(amount) or {
            "success": True, "refund_id": "R-1"},
        "Record survey response": lambda **kwargs: {"recorded": True},
    })
    started = run.run(team)
    result = run.resume(started.run_id, answer(started, "Refund my damaged order 123"))
    assert result.status == "waiting", result.error
    assert result.pending[0].prompt == "Your refund of 20 was processed (R-1)."
    assert done == [20]
    first = fake_llm.requests[0]
    assert tool_names(first) == ["RefundSpecialist", "SatisfactionSurveyor"]
    assert tool_messages(fake_llm.requests[-1]) == [
        "Refund processed successfully, Refund ID: R-1, Amount: 20"]


def test_howto_swarm(shared_dir: Path, fake_llm: FakeLlmServer) -> None:
    team = load(shared_dir, "howto_swarm.yaml")  # handoff: true, i.e. "optional"
    doctor = re.compile("general practitioner LLM doctor")
    skin = re.compile("Dermatologist LLM Agent")
    pharmacy = re.compile("Pharmacist LLM Agent")
    fake_llm.script_sequence([
        calls(("Symptoms_checker", {"symptoms": ["red patches", "itching"]})),
        calls(("send_message_to_Dermatologist",
               {"message": "Patient with red itchy patches: diagnosis?"})),
        "The dermatologist suggests eczema: use cream A, available at the pharmacy.",
        calls(("handoff_to_Dermatologist", {})),
    ], system=doctor)
    fake_llm.script_sequence([
        calls(("Knowledge_tool", {"condition": "eczema"}),
              ("send_message_to_Pharmacist", {"message": "Is cream A available?"})),
        "Eczema; cream A twice a day. The pharmacist confirmed it is available.",
    ], system=skin)
    # After the hand-off the dermatologist talks in the user's conversation.
    fake_llm.script("Can I talk", "Apply cream A twice a day for a week.", system=skin)
    fake_llm.script_sequence([
        calls(("Get_medication_info", {"drug_name": "cream A"})), "Cream A is in stock."
    ], system=pharmacy)
    run = rt(fake_llm, {
        "Symptoms checker": lambda symptoms: ["eczema", "allergy"],
        "Knowledge tool": lambda condition: f"{condition}: cream A",
        "Get medication info": lambda drug_name: f"{drug_name}: in stock",
    })
    started = run.run(team)
    second = run.resume(started.run_id, answer(started, "I have red itchy patches"))
    assert second.pending[0].prompt.startswith("The dermatologist suggests eczema")
    third = run.resume(second.run_id, answer(second, "Can I talk to the dermatologist?"))
    assert third.status == "waiting", third.error
    assert third.pending[0].prompt == "Apply cream A twice a day for a week."
    assert third.pending[0].node == "Swarm > Dermatologist"
    first = fake_llm.requests[0]
    assert tool_names(first) == ["Symptoms_checker", "send_message_to_Pharmacist",
                                 "handoff_to_Pharmacist", "send_message_to_Dermatologist",
                                 "handoff_to_Dermatologist"]
    skin_calls = [b for b in fake_llm.requests if skin.search(system_prompt(b))]
    # Asked by message, the dermatologist may message the pharmacist, never hand off.
    assert tool_names(skin_calls[0]) == ["Knowledge_tool", "send_message_to_Pharmacist"]
    assert tool_messages(skin_calls[1]) == ["eczema: cream A", "Cream A is in stock."]
    assert last_user(skin_calls[-1]) == "Can I talk to the dermatologist?"


def test_oracle_it_assistant_flow(shared_dir: Path, fake_llm: FakeLlmServer) -> None:
    flow = load(shared_dir, "agentspec_oracle_it_assistant.json")

    def orchestrator(body: dict[str, Any]) -> Any:
        if "restarting the router fixed" in system_prompt(body):
            return calls(("submit_outputs", {"topic": "unknown",
                                             "conversation_summary": "all good"}))
        if last_user(body) == "My wifi is down":
            return calls(("submit_outputs", {"topic": "network",
                                             "conversation_summary": "wifi down"}))
        return "Hi Ada! What is your problem today?"

    def network(body: dict[str, Any]) -> Any:
        if last_user(body) == "That solved it":
            return calls(("submit_outputs", {
                "conversation_summary": "restarting the router fixed the wifi"}))
        return "Please restart your router."

    fake_llm.script(None, orchestrator, system="orchestrator assistant")
    fake_llm.script(None, network, system="computer networks")
    run = rt(fake_llm, {"Gather user information tool":
                        lambda username: json.dumps({"name": username.title()})})
    started = run.run(flow, {"username": "ada"})
    assert started.pending[0].node == "Oracle IT Assistant Flow > Orchestrator Agent Execution"
    second = run.resume(started.run_id, answer(started, "My wifi is down"))
    assert second.pending[0].prompt == "Please restart your router."
    assert second.pending[0].node == "Oracle IT Assistant Flow > Network Agent Execution"
    done = run.resume(second.run_id, answer(second, "That solved it"))
    assert done.status == "finished", done.error
    assert done.branch == "next"
    assert '{"name": "Ada"}' in system_prompt(fake_llm.requests[0])
    agents = [m.get("agent") for m in done.messages if m["role"] == "assistant"]
    assert agents == ["Orchestrator Agent", "Orchestrator Agent", "Network Agent",
                      "Network Agent", "Orchestrator Agent"]


def test_sdk_flow_executing_agent(shared_dir: Path, fake_llm: FakeLlmServer) -> None:
    flow = load(shared_dir, "example_serialized_flow_executing_agent.yaml")
    fake_llm.script(None, "Good day to you.")
    result = rt(fake_llm).run(flow)
    # The agent runs and answers; the file's next node has an input nothing feeds.
    assert result.messages[-1]["content"] == "Good day to you."
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "flow > prompt node"
    assert "input 'x' has no value" in result.error.message
    assert system_prompt(fake_llm.requests[0]) == "Always be polite"


def test_sdk_specialized_agent_with_client_server_and_remote_tools(
        shared_dir: Path, fake_llm: FakeLlmServer) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from .conftest import serve_app

    received: list[Any] = []

    async def subscribe(request: Request) -> JSONResponse:
        received.append((await request.json(), dict(request.query_params),
                         request.headers.get("my_header")))
        return JSONResponse({"subscription_success": True})

    agent: Any = load(shared_dir, "example_serialized_specialized_agent.yaml")
    fake_llm.script_sequence([
        calls(("get_weather", {}), ("get_city_history_info", {"city_name": "Bern"}),
              ("subscribe_to_cat_newsletter", {"cat_name": "Tom"})),
        "Why did the cat sit on the computer? To keep an eye on the mouse.",
    ])
    with serve_app(Starlette(routes=[Route("/tool", subscribe, methods=["POST"])])) as url:
        remote = agent.agent_specialization_parameters.additional_tools[0]
        remote.url = url + "/tool"  # the file's URL is a placeholder
        run = rt(fake_llm, {"get_city_history_info": lambda city_name: f"{city_name}: old"})
        started = run.run(agent)
        waiting = run.resume(started.run_id, answer(started, "Weather?"))
        [request] = waiting.pending
        assert request.kind == "client_tool"
        assert request.tool_call == {"id": "call_0_0", "name": "get_weather",
                                     "arguments": {"city_name": "zurich"}}
        result = run.resume(waiting.run_id, {request.id: "sunny"})
    assert result.status == "waiting", result.error
    assert received == [({"cat_name": "Tom"}, {"my_query_param": "abc"}, "123")]
    assert tool_messages(fake_llm.requests[-1]) == ["sunny", "Bern: old", "true"]
    assert "Only ever tell jokes about cats" in system_prompt(fake_llm.requests[0])


def test_structured_generation_through_an_agent_node(shared_dir: Path,
                                                     fake_llm: FakeLlmServer) -> None:
    flow = load(shared_dir, "howto_structured_generation3.yaml")  # human_in_the_loop: false
    fake_llm.script(None, calls(("submit_outputs", {
        "animal_name": "tiger", "danger_level": "HIGH", "threats": ["poaching"]})))
    result = rt(fake_llm).run(flow, {"article": "Tigers are endangered by poaching."})
    assert result.status == "finished", result.error
    assert result.outputs == {"animal_name": "tiger", "danger_level": "HIGH",
                              "threats": ["poaching"]}
    assert "Tigers are endangered" in system_prompt(fake_llm.requests[0])

    # A model that answers in prose is asked once more, for the outputs as JSON.
    fake_llm.reset()
    fake_llm.script("JSON", {"animal_name": "shark", "danger_level": "MEDIUM", "threats": []})
    fake_llm.script(None, "It is about sharks.")
    result = rt(fake_llm).run(flow, {"article": "Sharks."})
    assert result.status == "finished", result.error
    assert result.outputs["animal_name"] == "shark"

