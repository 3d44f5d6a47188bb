"""LlmNode: render the prompt, ask the model once, read text or structured outputs."""

from __future__ import annotations

import json
from typing import Any

from loom.errors import LlmError, StepError
from loom.runtime.asking import traced_generate
from loom.runtime.context import RunContext
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
