"""What OpenAI-compatible servers refuse, and the request each takes instead.

A client learns a refusal once (the server answers an error naming the
field) and rewrites every later request the same way. What cannot be
rewritten, a tool call answered as plain text, is reported by
:func:`text_tool_call`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Body = dict[str, Any]


@dataclass(frozen=True)
class Refusal:
    """One thing some servers refuse: when a body has it, how the error reads, the fix."""

    name: str
    present: Callable[[Body], bool]
    words: tuple[str, ...]  # all in the error body (lower case) when refused
    rewrite: Callable[[Body], Body]


def _schema_form(body: Body) -> bool:
    form = body.get("response_format")
    return isinstance(form, Mapping) and form.get("type") == "json_schema"


def _as_json_object(body: Body) -> Body:
    # llama.cpp's server takes the schema beside "json_object" and constrains to it.
    schema = body["response_format"].get("json_schema", {}).get("schema", {})
    return {**body, "response_format": {"type": "json_object", "schema": schema}}


def _null_content(body: Body) -> bool:
    return any(isinstance(m, Mapping) and "content" in m and m["content"] is None
               for m in body.get("messages", ()))


def _empty_content(body: Body) -> Body:
    messages = [{**m, "content": ""} if m.get("content", "") is None else m
                for m in body["messages"]]
    return {**body, "messages": messages}


REFUSALS = (
    Refusal("stream_options", lambda b: "stream_options" in b, ("stream_options",),
            lambda b: {k: v for k, v in b.items() if k != "stream_options"}),
    Refusal("json_schema", _schema_form, ("response_format", "json_schema"), _as_json_object),
    Refusal("null_content", _null_content, ("messages", "content"), _empty_content),
    # vLLM without --enable-auto-tool-choice refuses "auto" (and parses no calls).
    Refusal("tool_choice", lambda b: b.get("tool_choice") == "auto", ("tool",),
            lambda b: {k: v for k, v in b.items() if k != "tool_choice"}),
)
_STATUSES = (400, 422, 500)  # llama.cpp's server answers 500 to a body it cannot validate


def adapt(body: Body, learned: Sequence[str] | set[str]) -> Body:
    """``body`` rewritten for every refusal the client has learned."""
    for refusal in REFUSALS:
        if refusal.name in learned and refusal.present(body):
            body = refusal.rewrite(body)
    return body


def refused(body: Body, status: int, error: str, learned: set[str]) -> str | None:
    """The name of the refusal an error answer shows, if the body can be rewritten."""
    if status not in _STATUSES:
        return None
    text = error.lower()
    for refusal in REFUSALS:
        if (refusal.name not in learned and refusal.present(body)
                and all(word in text for word in refusal.words)):
            return refusal.name
    return None


_FUNCTIONS = re.compile(r"^\s*(?:<tool_call>\s*)?(?:functions\.)?([A-Za-z0-9_.-]+)\s*[:(]")


def text_tool_call(text: str, tools: Sequence[Mapping[str, Any]]) -> str | None:
    """The tool a text answer tries to call (the server did not parse it), if any."""
    names = {str((t.get("function") or {}).get("name")) for t in tools}
    stripped = text.strip().removeprefix("<tool_call>").removesuffix("</tool_call>").strip()
    try:
        data = json.loads(stripped)
    except ValueError:
        data = None
    if isinstance(data, Mapping) and data.get("name") in names:
        return str(data["name"])
    match = _FUNCTIONS.match(text)
    if match and match.group(1) in names and ("{" in text or "(" in text):
        return match.group(1)
    return None


TEXT_TOOL_CALL_HINT = (
    "the server answered a call of tool '{name}' as text, which loom cannot run: let the "
    "server parse tool calls (llama.cpp's llama_cpp.server: --chat_format "
    "chatml-function-calling; vLLM: --enable-auto-tool-choice --tool-call-parser ...; "
    "Ollama: a model with tool support)"
)
