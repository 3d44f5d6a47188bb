"""Converting values at node inputs to the declared type, as far as it is safe.

Non-strings into a ``string`` input become JSON text; numbers and booleans
convert into each other; numeric strings are parsed for numeric inputs.
Anything else passes unchanged (the edge types were checked at load). A caller's
values are also refused outside their ``enum`` or ``const``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from loom.spec.templates import to_text

Converter = Callable[[Any], Any]


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """The value an input of type ``schema`` receives when fed ``value``."""
    convert = converter(schema)
    return value if convert is None else convert(value)


def converter(schema: dict[str, Any]) -> Converter | None:
    """The conversion for inputs of type ``schema``, or None when values pass as they
    are. Plans look it up once per input, not once per value."""
    kind = schema.get("type")
    return _CONVERTERS.get(kind) if isinstance(kind, str) else None


def refusal(title: str, schema: dict[str, Any], value: Any) -> str | None:
    """Why a caller's value for input ``title`` is refused (None: it fits)."""
    kind = schema.get("type")
    if kind in ("integer", "number", "boolean"):
        value = _CONVERTERS[kind](value)  # only the top value converts, as at node inputs
    given = _refused(value, schema)
    if given:
        return f"input '{title}' is declared {kind}, not {given}"
    outside = _outside(value, schema)
    return outside and f"input '{title}' is {outside[0]!r}, not one of {outside[1]!r}"


def _refused(value: Any, schema: dict[str, Any]) -> str | None:
    kind, items = schema.get("type"), schema.get("items")  # anyOf passes
    given = _TYPES.get(type(value)) or type(value).__name__
    if isinstance(kind, str) and kind != given and (kind, given) != ("number", "integer"):
        return given
    if given == "array" and isinstance(items, dict):
        return next((f"array of {g}" for v in value if (g := _refused(v, items))), None)
    return None


def _outside(value: Any, schema: dict[str, Any]) -> tuple[Any, list[Any]] | None:
    """The value (or array item) that is not among its schema's ``enum``/``const``, and
    the values allowed there."""
    allowed = [schema["const"]] if "const" in schema else schema.get("enum")
    if isinstance(allowed, list) and not any(_same(value, a) for a in allowed):
        return value, allowed
    items = schema.get("items")
    if isinstance(value, (list, tuple)) and isinstance(items, dict):
        return next((o for v in value if (o := _outside(v, items))), None)
    return None


def _same(value: Any, allowed: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1."""
    return value == allowed and isinstance(value, bool) == isinstance(allowed, bool)


_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array",
          tuple: "array", dict: "object", type(None): "null"}


def _to_string(value: Any) -> Any:
    return value if isinstance(value, str) else to_text(value)


def _to_integer(value: Any) -> Any:
    if isinstance(value, (bool, float)):
        return int(value)
    if isinstance(value, str):
        return _parse(value, int)
    return value


def _to_number(value: Any) -> Any:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return _parse(value, float)
    return value


def _to_boolean(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return bool(value)
    return value


_CONVERTERS: dict[str, Converter] = {
    "string": _to_string,
    "integer": _to_integer,
    "number": _to_number,
    "boolean": _to_boolean,
}


def _parse(text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        try:
            return kind(json.loads(text))
        except (ValueError, TypeError):
            return text
