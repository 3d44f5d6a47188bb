"""A waiting client tool's answer_schema comes from the tool's declared outputs, and
the server refuses an answer that does not fit it (422 naming the request)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.flows import chain, prop
from loom.server.answers import misfit
from loom.spec import Agent, ClientTool, Flow, ToolNode
from loom.stores import open_store
from loom.testing import FakeLlmServer, ScriptedToolCall

from .helpers import llm as llm_of
from .helpers import write_configs

CELSIUS = {"title": "celsius", "type": "number"}


def client_flow(name: str, tool: ClientTool) -> Flow:
    return chain(name, ToolNode(name="ask_client", tool=tool), outputs=tuple(tool.outputs or []))


@pytest.fixture
def configs(tmp_path: Path, llm: FakeLlmServer) -> Path:
    thermo = ClientTool(name="read_temp", outputs=[prop("celsius", "number")])
    measure = ClientTool(name="measure", outputs=[prop("width", "integer"),
                                                  prop("unit", default="cm")])
    untyped = ClientTool(name="anything")
    weather = ClientTool(name="weather", inputs=[prop("city")],
                         outputs=[prop("sky"), prop("wind", "number")])
    return write_configs(
        tmp_path / "configs", thermo=client_flow("thermo", thermo),
        measure=client_flow("measure", measure), untyped=client_flow("untyped", untyped),
        forecaster=Agent(name="forecaster", llm_config=llm_of(llm.url),
                         system_prompt="Use the weather tool", tools=[weather]))


def waiting(client: httpx.Client, component: str) -> tuple[str, dict[str, Any]]:
    data = client.post(f"/v1/components/{component}/runs", params={"wait": 10},
                       json={}).json()
    assert data["status"] == "waiting", data
    return data["run_id"], data["pending"][0]


def answer(client: httpx.Client, run_id: str, request_id: str, value: Any) -> httpx.Response:
    return client.post(f"/v1/runs/{run_id}/answers", params={"wait": 10},
                       json={"answers": {request_id: value}})


def test_one_output_the_value_or_an_object_of_it(client: httpx.Client) -> None:
    run_id, request = waiting(client, "thermo")
    assert request["answer_schema"] == {
        "description": "the result of tool 'read_temp'",
        "anyOf": [CELSIUS, {"type": "object", "properties": {"celsius": CELSIUS},
                            "required": ["celsius"], "additionalProperties": False}]}
    wrong = answer(client, run_id, request["id"], "warm")
    assert wrong.status_code == 422
    assert wrong.json()["error"] == {
        "code": "invalid_answer", "where": f"answers.{request['id']}",
        "message": f"request '{request['id']}' (client_tool at thermo > ask_client): the "
                   "answer must be a number, not a string (see its answer_schema)"}
    assert answer(client, run_id, request["id"], True).status_code == 422
    done = answer(client, run_id, request["id"], 21.5).json()
    assert done["status"] == "finished" and done["outputs"] == {"celsius": 21.5}
    run_id, request = waiting(client, "thermo")
    wrapped = answer(client, run_id, request["id"], {"celsius": 3}).json()
    assert wrapped["outputs"] == {"celsius": 3}


def test_several_outputs_an_object_of_them(client: httpx.Client) -> None:
    run_id, request = waiting(client, "measure")
    schema = request["answer_schema"]
    assert schema["type"] == "object" and schema["required"] == ["width"]
    assert sorted(schema["properties"]) == ["unit", "width"]
    missing = answer(client, run_id, request["id"], {"unit": "mm"})
    assert missing.status_code == 422
    assert "the answer has no 'width', which is required (give ['unit', 'width'])" in \
        missing.json()["error"]["message"]
    typed = answer(client, run_id, request["id"], {"width": 2.5})
    assert "'width' must be an integer, not a number" in typed.json()["error"]["message"]
    flat = answer(client, run_id, request["id"], 3)
    assert "the answer must be an object, not an integer" in flat.json()["error"]["message"]
    done = answer(client, run_id, request["id"], {"width": 4}).json()
    assert done["status"] == "finished" and done["outputs"] == {"width": 4, "unit": "cm"}


def test_a_tool_without_outputs_takes_any_json(client: httpx.Client) -> None:
    run_id, request = waiting(client, "untyped")
    assert request["answer_schema"] == {
        "description": "the result of tool 'anything' (any JSON value)"}
    assert answer(client, run_id, request["id"], [1, {"a": None}]).json()["status"] == \
        "finished"


def test_an_agents_client_tool_is_typed_too(client: httpx.Client, llm: FakeLlmServer) -> None:
    llm.script_sequence([[ScriptedToolCall("weather", {"city": "Oslo"})], "Snow, windy"],
                        match="weather")
    data = client.post("/v1/components/forecaster/runs", params={"wait": 10},
                       json={"inputs": {}}).json()
    if data["status"] == "waiting" and data["pending"][0]["kind"] == "input":
        data = answer(client, data["run_id"], data["pending"][0]["id"], "weather?").json()
    request = data["pending"][0]
    assert request["kind"] == "client_tool"
    assert request["answer_schema"]["required"] == ["sky", "wind"]
    wrong = answer(client, data["run_id"], request["id"], {"sky": "snow", "wind": "strong"})
    assert wrong.status_code == 422
    assert "'wind' must be a number, not a string" in wrong.json()["error"]["message"]
    done = answer(client, data["run_id"], request["id"], {"sky": "snow", "wind": 12}).json()
    assert done["messages"][-1]["content"] == "Snow, windy"  # and it waits for the user
    assert done["pending"][0]["kind"] == "input"


def test_a_run_saved_before_typed_schemas_takes_any_answer(client: httpx.Client,
                                                           tmp_path: Path) -> None:
    """Old checkpoints have no result_schema in their pending requests: they still
    load, and their client tools take any JSON as before."""
    run_id, request = waiting(client, "thermo")
    store = open_store(f"sqlite:///{tmp_path}/server.sqlite3")
    try:
        state = store.load(run_id)
        assert "result_schema" in state.pending[0]
        state.pending = [{k: v for k, v in item.items() if k != "result_schema"}
                         for item in state.pending]
        store.save(state)
    finally:
        store.close()
    old = client.get(f"/v1/runs/{run_id}").json()["pending"][0]
    assert old["answer_schema"] == {
        "description": "the result of tool 'read_temp' (any JSON value)"}
    assert answer(client, run_id, request["id"], 7).json()["status"] == "finished"


@pytest.mark.parametrize(("schema", "value", "why"), [
    ({"type": "string"}, "a", None),
    ({"type": "string"}, 1, "it must be a string, not an integer"),
    ({"type": "boolean"}, 1, "it must be a boolean, not an integer"),
    ({"type": "integer"}, 2.0, None),
    ({"type": "number"}, False, "it must be a number, not a boolean"),
    ({"type": ["string", "null"]}, None, None),
    ({"type": "array", "items": {"type": "integer"}}, [1, "x"],
     "it[1] must be an integer, not a string"),
    ({"enum": ["a", "b"]}, "c", 'it must be one of ["a", "b"], not "c"'),
    ({"type": "object", "properties": {"a": {}}, "additionalProperties": False},
     {"a": 1, "z": 2}, "it has ['z'], which are not among ['a']"),
    ({"description": "anything"}, object(), None),
    ({"type": "number", "minimum": 0}, -1, "it does not fit: -1 is less than the minimum of 0"),
    ({"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}},
     {"tags": ["a", 2]}, "'tags'[1] must be a string, not an integer"),
])
def test_misfit_says_what_is_wrong(schema: dict[str, Any], value: Any, why: str | None) -> None:
    assert misfit(schema, value) == why
