"""Decide what the fake model answers to one chat-completions request."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from loom.testing.replies import (
    Answer,
    ScriptRule,
    assistant_turn,
    default_text,
    last_user_text,
    system_text,
    to_answer,
)
from loom.testing.schema_fill import fake_instance


def requested_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON schema asked for via ``response_format``, if any.

    ``{"type": "json_object"}`` counts as the schema ``{"type": "object"}``.
    """
    fmt = body.get("response_format")
    if not isinstance(fmt, Mapping):
        return None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        return schema if isinstance(schema, Mapping) else {}
    if fmt.get("type") == "json_object":
        return {"type": "object"}
    return None


def choose_answer(body: Mapping[str, Any], rules: Sequence[ScriptRule]) -> Answer:
    """First matching script rule wins; otherwise schema-filled JSON or the default text."""
    messages = body.get("messages") or []
    last_user = last_user_text(messages)
    turn = assistant_turn(messages)
    system = system_text(messages)
    for rule in rules:
        reply = rule.pick(last_user, turn, system)
        if reply is None:
            continue
        value = reply(dict(body)) if callable(reply) else reply
        return to_answer(value, turn)
    schema = requested_schema(body)
    if schema is not None:
        return Answer(json.dumps(fake_instance(schema)))
    return Answer(default_text(last_user))
