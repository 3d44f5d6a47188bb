"""loom against a real OpenAI-compatible server nobody here wrote: llama.cpp's, with
SmolLM2-135M-Instruct. Plain and streamed LlmNodes, structured output, and the
client's adaptations to what that server refuses (json_schema, null content)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

import loom
from loom.llm import LlmClient, LlmEndpoint
from loom.local import MODEL_NAME, LocalLlm
from loom.runtime.events import RuntimeEvent
from loom.runtime.executors.llm import structured_schema
from loom.spec import LlmNode
from runtime.conftest import linear_flow, prop, props

from .conftest import SHORT, config

pytestmark = pytest.mark.timeout(600)


def greeting(llm: LocalLlm, **params: Any) -> Any:
    step = LlmNode(name="greet", llm_config=config(llm, **params),
                   prompt_template="Say hello to {{name}} in one short sentence.")
    return linear_flow("main", step, inputs=props(name="string"), outputs=step.outputs or [])


def test_a_plain_llm_node_gets_the_models_text(local_llm: LocalLlm) -> None:
    with loom.Runtime(use_env=False) as runtime:
        result = runtime.run(greeting(local_llm), {"name": "Alice"})
    assert result.status == "finished", result.error
    text = result.outputs["generated_text"]
    assert isinstance(text, str) and "Alice" in text  # deterministic: temperature 0, seed 7
    assert not text.startswith("fake answer")


def test_a_streamed_llm_node_delivers_its_text_token_by_token(local_llm: LocalLlm) -> None:
    events: list[RuntimeEvent] = []
    with loom.Runtime(use_env=False, listeners=[events.append]) as runtime:
        result = runtime.run(greeting(local_llm), {"name": "Alice"})
    assert result.status == "finished", result.error
    tokens = [e.data["token"] for e in events if e.type == "llm_token"]
    assert len(tokens) > 3
    assert "".join(tokens) == result.outputs["generated_text"]
    [end] = [e for e in events if e.type == "llm_end"]
    # llama.cpp's server sends a stream's token counts with some chat formats only (with
    # the model's own template, none, though asked): loom then reports no usage.
    assert set(end.data["usage"]) <= {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert end.data["finish_reason"] in ("stop", "length")


def test_structured_output_follows_its_schema_though_the_server_refuses_json_schema(
    local_llm: LocalLlm,
) -> None:
    outputs = [prop("name"), prop("age", "integer")]
    step = LlmNode(name="person", llm_config=config(local_llm, max_tokens=40),
                   prompt_template="Give a person named {{who}} aged 30 as JSON.",
                   outputs=outputs)
    flow = linear_flow("main", step, inputs=props(who="string"), outputs=outputs)
    with loom.Runtime(use_env=False) as runtime:
        result = runtime.run(flow, {"who": "Bob"})
        learned = runtime.services.llm_client(step.llm_config).adaptations
    assert result.status == "finished", result.error
    jsonschema.validate(result.outputs, structured_schema(outputs))
    assert result.outputs["name"] == "Bob"
    assert "json_schema" in learned  # refused once with a 500, then json_object + schema


async def test_the_client_learns_each_refusal_once(local_llm: LocalLlm) -> None:
    endpoint = LlmEndpoint(url=local_llm.url, model=MODEL_NAME, generation_params=SHORT)
    client = LlmClient(endpoint)
    schema = {"title": "city", "type": "object", "properties": {"city": {"type": "string"}},
              "required": ["city"]}
    messages = [{"role": "user", "content": "Name the capital of Portugal as JSON."}]
    first = await client.generate(messages, response_schema=schema)
    jsonschema.validate(json.loads(first.text), schema)
    assert client.adaptations == {"json_schema"}
    earlier = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": None},
               {"role": "user", "content": "Say hello to Alice."}]
    answer = await client.generate(earlier, stream=True)  # null content refused, then ""
    assert answer.text
    assert client.adaptations == {"json_schema", "null_content"}
