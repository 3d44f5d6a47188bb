"""LlmNode: render the prompt, ask the model once, read text or structured outputs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from loom.llm import LlmClient, LlmError, LlmResponse
from loom.runtime.context import RunContext
from loom.runtime.errors import StepError
from loom.runtime.plan import Compiler, Executor
from loom.spec.nodes import NEXT, LlmNode
from loom.spec.property import Property
from loom.spec.templates import render
from loom.spec.types import describe_type, value_matches


def structured_schema(outputs: list[Property]) -> dict[str, Any]:
    """One JSON object whose properties are the node's outputs."""
    return {
        "title": "structured_output",
        "type": "object",
        "properties": {prop.title: prop.json_schema for prop in outputs},
        "required": [prop.title for prop in outputs if not prop.has_default],
        "additionalProperties": False,
    }


async def traced_generate(
    ctx: RunContext,
    client: LlmClient,
    config: Any,
    messages: Sequence[Mapping[str, Any]],
    *,
    response_schema: Mapping[str, Any] | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    request_id: str | None = None,
) -> LlmResponse:
    """``client.generate`` with ``llm_start``/``llm_token``/``llm_end`` events when the
    run has listeners; the answer is then streamed, so tokens arrive as events."""
    events = ctx.run.events
    if not events.enabled:
        return await client.generate(messages, response_schema=response_schema, tools=tools)
    path, step = ctx.path, ctx.step
    events.emit(
        "llm_start", path, step, llm=config, model=client.endpoint.model,
        messages=[dict(m) for m in messages],
        generation_config=dict(client.endpoint.generation_params),
        tools=[str(t.get("function", t).get("name", "")) for t in tools or ()],
        request_id=request_id,
    )

    def on_token(text: str) -> None:
        events.emit("llm_token", path, step, token=text, request_id=request_id)

    try:
        answer = await client.generate(
            messages, response_schema=response_schema, tools=tools, stream=True,
            on_token=on_token,
        )
    except Exception as exc:
        events.emit("llm_end", path, step, error=exc, request_id=request_id)
        raise
    events.emit(
        "llm_end", path, step, content=answer.text,
        tool_calls=[{"call_id": c.id, "tool_name": c.name, "arguments": c.arguments}
                    for c in answer.tool_calls],
        usage=dict(answer.usage), finish_reason=answer.finish_reason, request_id=request_id,
    )
    return answer


class LlmExecutor(Executor):
    journaled = True  # a resumed run replays its recorded result
    threaded = False

    def __init__(self, node: LlmNode, compiler: Compiler) -> None:
        self.config = node.llm_config
        self.template = node.prompt_template
        self.outputs = list(node.outputs or [])
        self.schema = structured_schema(self.outputs) if node.is_structured else None

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        client = ctx.services.llm_client(self.config)
        prompt = render(self.template, inputs)
        try:
            answer = await traced_generate(
                ctx, client, self.config, [{"role": "user", "content": prompt}],
                response_schema=self.schema,
            )
        except LlmError as exc:
            # The LLM error already says what to check (server, URL, key, model).
            raise StepError(f"LLM '{self.config.name}' failed: {exc}") from exc
        if self.schema is None:
            return {self.outputs[0].title: answer.text}, NEXT
        return self._structured(answer.text), NEXT

    def _structured(self, text: str) -> dict[str, Any]:
        try:
            data = json.loads(text)
        except ValueError:
            raise StepError(
                f"LLM '{self.config.name}' was asked for JSON but answered {text[:80]!r}",
                hint="use a model or server that supports structured output (json_schema)",
            ) from None
        if not isinstance(data, dict):
            raise StepError(f"LLM '{self.config.name}' answered JSON that is not an object")
        values: dict[str, Any] = {}
        for prop in self.outputs:
            if prop.title in data:
                value = data[prop.title]
                if not value_matches(value, prop.json_schema):
                    raise StepError(
                        f"LLM '{self.config.name}' gave output '{prop.title}' a "
                        f"{type(value).__name__}, but it is declared "
                        f"{describe_type(prop.json_schema)}"
                    )
                values[prop.title] = value
            elif prop.has_default:
                values[prop.title] = prop.default
            else:
                raise StepError(
                    f"LLM '{self.config.name}' gave no value for output '{prop.title}'",
                    hint="give the output a default, or describe it better for the model",
                )
        return values
