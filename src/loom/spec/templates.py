"""Placeholders: ``{{ name }}`` in prompts, messages and request templates.

Agent Spec borrows only Jinja's placeholder syntax: a name matching ``\\w+``
between double braces. Anything else (filters, blocks, dotted names) is literal
text, so rendering is a plain substitution and never evaluates the template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"{{\s*(\w+)\s*}}")


def placeholders(text: str | None) -> list[str]:
    """The distinct placeholder names of ``text``, in order of first appearance."""
    if not text:
        return []
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def placeholders_in(value: Any) -> list[str]:
    """Placeholders found anywhere in a nested value (dict keys and values, lists)."""
    found: dict[str, None] = {}

    def walk(item: Any) -> None:
        if isinstance(item, str):
            found.update(dict.fromkeys(PLACEHOLDER.findall(item)))
        elif isinstance(item, bytes):
            walk(item.decode("utf-8", errors="replace"))
        elif isinstance(item, Mapping):
            for key, sub in item.items():
                walk(key)
                walk(sub)
        elif isinstance(item, (list, tuple)):
            for sub in item:
                walk(sub)

    walk(value)
    return list(found)


def to_text(value: Any) -> str:
    """How a value reads inside a prompt: strings verbatim, the rest as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def render(text: str, values: Mapping[str, Any]) -> str:
    """Substitute every placeholder that has a value; leave the others as they are."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return to_text(values[name])
        return match.group(0)

    return PLACEHOLDER.sub(replace, text)


def render_nested(value: Any, values: Mapping[str, Any]) -> Any:
    """Render placeholders inside a nested structure, keeping its shape."""
    if isinstance(value, str):
        return render(value, values)
    if isinstance(value, Mapping):
        return {render_nested(k, values): render_nested(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [render_nested(v, values) for v in value]
    return value
