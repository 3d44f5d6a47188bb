"""Nodes and agents whose LLM config says ``api_type: responses``: every call goes
to ``/v1/responses`` of the test server, over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

import loom
from loom.spec import LlmNode
from loom.spec.agents import Agent
from loom.spec.llms import OpenAiCompatibleConfig
from loom.stores import MemoryStore
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply
from runtime.conftest import FAST_RETRY, linear_flow

from .conftest import client_tool, prop, props, runtime, server_tool


def responses_llm(server: FakeLlmServer) -> OpenAiCompatibleConfig:
    return OpenAiCompatibleConfig(name="responses_llm", url=server.url, model_id="fake-model",
                                  api_type="responses", retry_policy=dict(FAST_RETRY))


def llm_node_flow(server: FakeLlmServer, outputs: list[Any] | None = None) -> Any:
    step = LlmNode(name="ask", llm_config=responses_llm(server),
                   prompt_template="Describe {{thing}}", outputs=outputs)
    return linear_flow("main", step, inputs=props(thing="string"), outputs=step.outputs or [])


def every_request_went_to_responses(server: FakeLlmServer) -> None:
    assert server.recorded and {r.path for r in server.recorded} == {"/v1/responses"}


def test_an_llm_node_answers_through_the_responses_api(fake_llm: FakeLlmServer) -> None:
    result = runtime().run(llm_node_flow(fake_llm), {"thing": "tea"})
    assert result.status == "finished", result.error
    assert result.outputs == {"generated_text": "fake answer to: Describe tea"}
    every_request_went_to_responses(fake_llm)
    assert fake_llm.requests[0]["input"] == [
        {"type": "message", "role": "user", "content": "Describe tea"}]


def test_a_streamed_llm_node_sends_its_tokens_to_listeners(fake_llm: FakeLlmServer) -> None:
    events: list[Any] = []
    result = runtime(listeners=[events.append]).run(llm_node_flow(fake_llm), {"thing": "tea"})
    assert result.status == "finished", result.error
    tokens = [e.data["token"] for e in events if e.type == "llm_token"]
    assert len(tokens) == 5 and "".join(tokens) == "fake answer to: Describe tea"
    [end] = [e for e in events if e.type == "llm_end"]
    assert end.data["usage"] == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}
    assert fake_llm.requests[0]["stream"] is True
    every_request_went_to_responses(fake_llm)


def test_structured_output_follows_the_schema_of_the_outputs(fake_llm: FakeLlmServer) -> None:
    outputs = [prop("title"), prop("score", "integer"),
               prop("tags", {"type": "array", "items": {"type": "string"}})]
    result = runtime().run(llm_node_flow(fake_llm, outputs), {"thing": "tea"})
    assert result.status == "finished", result.error
    fmt = fake_llm.requests[0]["text"]["format"]
    assert fmt["type"] == "json_schema" and set(fmt["schema"]["properties"]) == {
        "title", "score", "tags"}
    jsonschema.validate(result.outputs, fmt["schema"])  # schema-filled by the test server
    assert isinstance(result.outputs["score"], int)


def test_an_agent_calls_a_server_tool_through_the_responses_api(fake_llm: FakeLlmServer) -> None:
    price = server_tool("get_price", props(item="string"), props(price="number"))
    agent = Agent(name="shopper", llm_config=responses_llm(fake_llm), system_prompt="You shop.",
                  tools=[price], human_in_the_loop=False)
    fake_llm.script_sequence([
        ToolCallsReply([ScriptedToolCall("get_price", {"item": "tea"}, id="call_tea")]),
        lambda body: f"It costs {body['messages'][-1]['content']}.",
    ])
    calls: list[dict[str, Any]] = []
    result = runtime({"get_price": lambda **kw: calls.append(kw) or 3.5}).run(agent)
    assert result.status == "finished", result.error
    assert calls == [{"item": "tea"}]
    assert result.messages[-1]["content"] == "It costs 3.5."
    first, second = fake_llm.requests
    assert [t["name"] for t in first["tools"]] == ["get_price"]
    assert first["input"][0] == {"type": "message", "role": "system", "content": "You shop."}
    assert second["input"][-2:] == [
        {"type": "function_call", "call_id": "call_tea", "name": "get_price",
         "arguments": json.dumps({"item": "tea"})},
        {"type": "function_call_output", "call_id": "call_tea", "output": "3.5"}]
    every_request_went_to_responses(fake_llm)


def test_a_client_tool_waits_and_resumes_with_its_call_id(fake_llm: FakeLlmServer) -> None:
    where = client_tool("get_location", [], props(city="string"))
    agent = Agent(name="guide", llm_config=responses_llm(fake_llm), system_prompt="You guide.",
                  tools=[where], human_in_the_loop=False)
    fake_llm.script_sequence([
        ToolCallsReply([ScriptedToolCall("get_location", {}, id="call_where_42")]),
        "Welcome to Paris.",
    ])
    store = MemoryStore()
    first = runtime(store=store).run(agent)
    assert first.status == "waiting" and first.run_id
    [request] = first.pending
    assert request.tool_call == {"id": "call_where_42", "name": "get_location", "arguments": {}}

    # The answer comes to another runtime, as to another process.
    resumed = runtime(store=store).resume(first.run_id, {request.id: {"city": "Paris"}})
    assert resumed.status == "finished", resumed.error
    assert resumed.messages[-1]["content"] == "Welcome to Paris."
    assert len(fake_llm.requests) == 2
    items = fake_llm.requests[-1]["input"]
    assert [i for i in items if i["type"] != "message"] == [
        {"type": "function_call", "call_id": "call_where_42", "name": "get_location",
         "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_where_42", "output": "Paris"}]
    every_request_went_to_responses(fake_llm)


def test_a_flow_file_with_api_type_responses_runs_so(fake_llm: FakeLlmServer) -> None:
    text = loom.dumps(llm_node_flow(fake_llm))
    assert '"api_type": "responses"' in text
    result = runtime().run(loom.loads(text), {"thing": "tea"})
    assert result.status == "finished", result.error
    every_request_went_to_responses(fake_llm)
