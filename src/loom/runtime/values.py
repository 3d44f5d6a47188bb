"""Converting values at node inputs to the declared type, as far as it is safe."""

from __future__ import annotations

import json
from typing import Any

from loom.spec.templates import to_text


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """The value an input of type ``schema`` receives when fed ``value``.

    Non-strings into a ``string`` input become JSON text; numbers and booleans
    convert into each other; numeric strings are parsed for numeric inputs.
    Anything else passes unchanged (the edge types were checked at load).
    """
    kind = schema.get("type")
    if kind == "string":
        return value if isinstance(value, str) else to_text(value)
    if kind == "integer":
        if isinstance(value, bool) or isinstance(value, float):
            return int(value)
        if isinstance(value, str):
            return _parse(value, int)
    elif kind == "number":
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            return _parse(value, float)
    elif kind == "boolean":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return bool(value)
    return value


def _parse(text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        try:
            return kind(json.loads(text))
        except (ValueError, TypeError):
            return text
