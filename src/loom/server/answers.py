"""Whether an answer fits its request's ``answer_schema``, and if not, what is wrong.

The schemas are loom's own (text, yes/no, a client tool's declared outputs), so a
small checker of JSON Schema's ``type``, ``anyOf``, ``enum``, ``properties``,
``required``, ``additionalProperties`` and ``items`` covers them; a keyword it
does not know passes, as the runtime lets it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "boolean": (bool,), "integer": (int,), "number": (int, float),
    "array": (list,), "object": (dict,), "null": (type(None),),
}
_NAMES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
          list: "an array", dict: "an object", type(None): "null"}


def misfit(schema: Mapping[str, Any], value: Any, at: str = "it") -> str | None:
    """What is wrong with ``value`` (``at`` names where it is), or None if it fits."""
    alternatives = schema.get("anyOf")
    if isinstance(alternatives, list) and alternatives:
        if any(misfit(alt, value) is None for alt in alternatives):
            return None
        return misfit(alternatives[0], value, at)  # the main shape says what to send
    kinds = schema.get("type")
    names = [kinds] if isinstance(kinds, str) else kinds if isinstance(kinds, list) else []
    if names and not any(_is(value, str(name)) for name in names):
        wanted = " or ".join(_article(str(name)) for name in names)
        return f"{at} must be {wanted}, not {_name(value)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{at} must be one of {json.dumps(schema['enum'])}, not {json.dumps(value)}"
    if isinstance(value, dict):
        return _object_misfit(schema, value, at)
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, Mapping):
        for index, item in enumerate(value):
            why = misfit(items, item, f"{at}[{index}]")
            if why:
                return why
    return None


def _object_misfit(schema: Mapping[str, Any], value: dict[str, Any], at: str) -> str | None:
    props: Mapping[str, Any] = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in value:
            return f"{at} has no '{name}', which is required (give {sorted(props)})"
    for name, sub in props.items():
        if name in value and isinstance(sub, Mapping):
            why = misfit(sub, value[name], f"'{name}'")
            if why:
                return why
    if schema.get("additionalProperties") is False:
        extra = sorted(set(value) - set(props))
        if extra:
            return f"{at} has {extra}, which are not among {sorted(props)}"
    return None


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(kind, (object,)))


def _article(kind: str) -> str:
    return {"integer": "an integer", "array": "an array", "object": "an object",
            "null": "null"}.get(kind, f"a {kind}")


def _name(value: Any) -> str:
    return _NAMES.get(type(value), type(value).__name__)
