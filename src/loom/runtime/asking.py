"""Asking the outside, as executors and agents both do: an LLM (with tracing
events) and a person (a yes/no confirmation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loom.llm import LlmResponse
from loom.runtime.context import RunContext
from loom.runtime.effects import LlmCaller


async def traced_generate(
    ctx: RunContext,
    client: LlmCaller,
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


def is_yes(answer: Any) -> bool:
    """A confirmation answer: true, or text such as "yes", "y", "ok"."""
    if isinstance(answer, str):
        return answer.strip().lower() in ("true", "yes", "y", "ok", "confirm", "1")
    if isinstance(answer, dict):
        return is_yes(answer.get("confirmed", answer.get("approve", False)))
    return answer is True or answer == 1
