"""LlmNode over real HTTP to the fake server: text, structured output, prompts, errors."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from loom.spec import LlmNode, ObjectProperty, ParallelFlowNode
from loom.spec.llms import OpenAiCompatibleConfig
from loom.testing import FakeLlmServer

from .conftest import linear_flow, llm_config, prop, props, runtime, serve_app

ARRAY_OF_STRINGS = {"type": "array", "items": {"type": "string"}}


def llm_flow(server: FakeLlmServer, template: str, inputs: list[Any],
             outputs: list[Any] | None = None, node: str = "ask", **config: Any) -> Any:
    step = LlmNode(name=node, llm_config=llm_config(server, **config),
                   prompt_template=template, outputs=outputs)
    return linear_flow("main", step, inputs=inputs, outputs=step.outputs or [])


# --- text ----------------------------------------------------------------------------


def test_text_goes_to_generated_text_by_default(fake_llm: FakeLlmServer) -> None:
    flow = llm_flow(fake_llm, "Say hi to {{name}}", props(name="string"))
    result = runtime().run(flow, {"name": "Ada"})
    assert result.status == "finished", result.error
    assert result.outputs == {"generated_text": "fake answer to: Say hi to Ada"}
    [body] = fake_llm.requests
    assert body["model"] == "fake-model"
    assert body["messages"] == [{"role": "user", "content": "Say hi to Ada"}]
    assert "response_format" not in body
    assert result.messages == []  # an LlmNode does not write to the conversation


def test_a_single_string_output_is_plain_text_under_its_own_title(
    fake_llm: FakeLlmServer,
) -> None:
    fake_llm.script("Summarize", "A short summary.")
    flow = llm_flow(fake_llm, "Summarize {{text}}", props(text="string"),
                    outputs=[prop("summary")])
    assert runtime().run(flow, {"text": "a long text"}).outputs == {"summary": "A short summary."}
    assert "response_format" not in fake_llm.requests[0]


def test_non_string_inputs_render_as_json_in_the_prompt(fake_llm: FakeLlmServer) -> None:
    inputs = [prop("items", ARRAY_OF_STRINGS), prop("info", "object"), prop("n", "integer"),
              prop("ok", "boolean"), prop("text")]
    flow = llm_flow(fake_llm, "I={{items}} D={{ info }} N={{n}} B={{ok}} T={{text}}", inputs)
    result = runtime().run(flow, {"items": ["a", "b"], "info": {"k": 1, "s": "é"}, "n": 3,
                                  "ok": True, "text": "plain"})
    assert result.status == "finished", result.error
    content = fake_llm.requests[0]["messages"][0]["content"]
    assert content == 'I=["a", "b"] D={"k": 1, "s": "é"} N=3 B=true T=plain'


def test_generation_parameters_are_sent_with_every_request(fake_llm: FakeLlmServer) -> None:
    params = {"temperature": 0.2, "max_tokens": 64, "top_p": 0.9}
    flow = llm_flow(fake_llm, "Hi", [], default_generation_parameters=params)
    assert runtime().run(flow).status == "finished"
    body = fake_llm.requests[0]
    assert {k: body.get(k) for k in params} == params


def test_runtime_llm_overrides_replace_the_config_url_and_model(
    fake_llm: FakeLlmServer,
) -> None:
    step = LlmNode(name="ask", prompt_template="Hi",
                   llm_config=llm_config(fake_llm).model_copy(
                       update={"url": "http://127.0.0.1:9/v1"}))
    flow = linear_flow("main", step, outputs=step.outputs or [])
    rt = runtime(llm={"url": fake_llm.url, "model": "other-model"})
    assert rt.run(flow).status == "finished"
    assert fake_llm.requests[0]["model"] == "other-model"


# --- structured output ---------------------------------------------------------------


def rating_outputs() -> list[Any]:
    return [
        {"title": "title", "type": "string", "description": "A catchy title"},
        {"title": "score", "type": "integer"},
        {"title": "tags", **ARRAY_OF_STRINGS, "default": []},
    ]


def rating_flow(server: FakeLlmServer) -> Any:
    outputs = [prop(o["title"], {k: v for k, v in o.items() if k != "default"},
                    **({"default": o["default"]} if "default" in o else {}))
               for o in rating_outputs()]
    return llm_flow(server, "Rate {{thing}}", props(thing="string"), outputs, node="rate")


def test_structured_outputs_are_requested_by_schema_and_parsed(fake_llm: FakeLlmServer) -> None:
    fake_llm.script("Rate", {"title": "Great", "score": 9, "tags": ["x", "y"]})
    result = runtime().run(rating_flow(fake_llm), {"thing": "tea"})
    assert result.status == "finished", result.error
    assert result.outputs == {"title": "Great", "score": 9, "tags": ["x", "y"]}
    schema = fake_llm.requests[0]["response_format"]["json_schema"]["schema"]
    assert set(schema["properties"]) == {"title", "score", "tags"}
    assert schema["properties"]["title"]["description"] == "A catchy title"
    assert schema["properties"]["score"]["type"] == "integer"
    assert set(schema["required"]) == {"title", "score"}  # tags has a default


def test_structured_output_missing_a_key_with_a_default_uses_the_default(
    fake_llm: FakeLlmServer,
) -> None:
    fake_llm.script("Rate", {"title": "Ok", "score": 5})
    assert runtime().run(rating_flow(fake_llm), {"thing": "tea"}).outputs == {
        "title": "Ok", "score": 5, "tags": []}


def test_a_single_object_output_is_one_structured_value(fake_llm: FakeLlmServer) -> None:
    person = ObjectProperty("person", {"name": prop("name"), "age": prop("age", "integer")})
    fake_llm.script("Who", {"person": {"name": "Ada", "age": 36}})
    flow = llm_flow(fake_llm, "Who?", [], [person])
    assert runtime().run(flow).outputs == {"person": {"name": "Ada", "age": 36}}
    assert "response_format" in fake_llm.requests[0]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ({"title": "T", "score": "high"},
         "LLM 'fake_llm' gave output 'score' a str, but it is declared integer"),
        ({"title": "T"}, "LLM 'fake_llm' gave no value for output 'score'"),
        ({"title": "T", "score": 1, "tags": "x"}, "gave output 'tags' a str"),
        ("not json at all", "LLM 'fake_llm' was asked for JSON but answered 'not json at all'"),
        ('["a list"]', "answered JSON that is not an object"),
    ],
    ids=["wrong-type", "missing", "wrong-items", "not-json", "not-object"],
)
def test_structured_answers_are_validated_against_the_schema(
    fake_llm: FakeLlmServer, reply: Any, expected: str
) -> None:
    fake_llm.script("Rate", reply)
    result = runtime().run(rating_flow(fake_llm), {"thing": "tea"})
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > rate"
    assert expected in result.error.message


# --- parallel LLM calls --------------------------------------------------------------


def test_llm_nodes_in_parallel_branches_overlap_on_the_server(fake_llm: FakeLlmServer) -> None:
    fake_llm.latency = 0.1
    subflows = [
        linear_flow(f"ask_{i}", step, outputs=step.outputs or [])
        for i, step in enumerate(
            LlmNode(name=f"llm_{i}", llm_config=llm_config(fake_llm), prompt_template=f"Q{i}",
                    outputs=[prop(f"a{i}")])
            for i in range(3)
        )
    ]
    fan = ParallelFlowNode(name="fan", subflows=subflows)
    flow = linear_flow("main", fan, outputs=fan.outputs or [])
    result = runtime().run(flow)
    assert result.outputs == {f"a{i}": f"fake answer to: Q{i}" for i in range(3)}
    records = fake_llm.recorded
    assert len(records) == 3
    assert max(r.started for r in records) < min(r.ended or 0.0 for r in records)


# --- failures ------------------------------------------------------------------------


def test_server_errors_are_retried_then_fail_naming_the_node(fake_llm: FakeLlmServer) -> None:
    fake_llm.fail_next(5, status=500)
    result = runtime().run(llm_flow(fake_llm, "Hi", []))
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > ask"
    message = result.error.message
    assert "LLM 'fake_llm' failed" in message
    assert "answered HTTP 500" in message
    assert "gave up after 2 attempts" in message  # max_attempts=1 retry
    assert "check its logs" in message
    assert [r.status for r in fake_llm.recorded] == [500, 500]
    assert str(result.exception).startswith("main > ask: ")


def test_one_server_error_is_retried_transparently(fake_llm: FakeLlmServer) -> None:
    fake_llm.fail_next(1, status=503)
    result = runtime().run(llm_flow(fake_llm, "Hi", []))
    assert result.status == "finished", result.error
    assert [r.status for r in fake_llm.recorded] == [503, 200]


def test_a_server_that_does_not_answer_times_out_with_a_hint(fake_llm: FakeLlmServer) -> None:
    fake_llm.fail_next(1, kind="timeout")
    flow = llm_flow(fake_llm, "Hi", [], retry_policy={"max_attempts": 0, "request_timeout": 0.2})
    result = runtime().run(flow)
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > ask"
    assert "did not answer within 0.2 s" in result.error.message
    assert "retry_policy.request_timeout" in result.error.message


def test_a_malformed_body_fails_saying_what_to_check(fake_llm: FakeLlmServer) -> None:
    fake_llm.fail_next(1, kind="malformed")
    result = runtime().run(llm_flow(fake_llm, "Hi", [], retry_policy={"max_attempts": 0}))
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > ask"
    assert "sent an unusable answer" in result.error.message
    assert "OpenAI-compatible chat-completions endpoint" in result.error.message


def test_unreachable_server_fails_naming_the_url(fake_llm: FakeLlmServer) -> None:
    step = LlmNode(name="ask", prompt_template="Hi",
                   llm_config=llm_config(fake_llm, retry_policy={"max_attempts": 0})
                   .model_copy(update={"url": "http://127.0.0.1:9/v1"}))
    result = runtime().run(linear_flow("main", step))
    assert result.status == "failed" and result.error is not None
    assert "cannot reach the LLM server at http://127.0.0.1:9/v1" in result.error.message


SECRET = "sk-test-VERY-SECRET-4242"


def test_api_key_is_sent_but_never_appears_in_the_error(fake_llm: FakeLlmServer) -> None:
    fake_llm.fail_next(1, status=401)
    result = runtime().run(llm_flow(fake_llm, "Hi", [], api_key=SECRET))
    assert result.status == "failed" and result.error is not None
    assert fake_llm.recorded[0].headers["authorization"] == f"Bearer {SECRET}"
    assert "HTTP 401" in result.error.message and "Check the API key" in result.error.message
    assert SECRET not in result.error.message
    assert SECRET not in str(result.exception) and SECRET not in repr(result)


def test_api_key_echoed_back_by_the_server_is_masked() -> None:
    async def chat(request: Request) -> JSONResponse:
        key = request.headers.get("authorization", "")
        error = {"message": f"key {key} is over quota", "type": "server_error"}
        return JSONResponse({"error": error}, status_code=500)

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    with serve_app(app) as url:
        step = LlmNode(name="ask", prompt_template="Hi", llm_config=OpenAiCompatibleConfig(
            name="echoing", url=url + "/v1", model_id="m", api_key=SECRET,
            retry_policy={"max_attempts": 0}))
        rt = runtime(llm={"api_key": SECRET})
        result = rt.run(linear_flow("main", step))
    assert result.status == "failed" and result.error is not None
    assert "is over quota" in result.error.message
    assert SECRET not in result.error.message
    assert SECRET not in str(result.exception)
