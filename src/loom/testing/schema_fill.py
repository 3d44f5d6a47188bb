"""Make a deterministic JSON value that conforms to a JSON schema.

The fake LLM server answers structured-output requests with this, so tests
get valid, predictable data without a model. Rules, in order: ``default``,
``const``, ``enum`` (first value), ``$ref`` (local), ``anyOf``/``oneOf`` (first
alternative), ``allOf`` (merged), then by type: string -> ``"fake <title>"``
(title, else property name, else "value"), integer -> 1, number -> 1.0,
boolean -> true, null -> null, array -> one item (or ``minItems``), object ->
every property (only required ones deep inside recursive schemas). Numeric
bounds and string lengths are honoured; ``pattern`` and ``format`` are not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 12
"""Past this nesting depth objects get only their required properties and arrays
only ``minItems`` items, so recursive schemas end; past four times it, null."""


def fake_instance(schema: Mapping[str, Any] | bool) -> Any:
    """A value valid against ``schema`` (a JSON schema as a dict)."""
    root = schema if isinstance(schema, Mapping) else {}
    return _fill(schema, root, name=None, depth=0)


def _fill(
    schema: Mapping[str, Any] | bool, root: Mapping[str, Any], name: str | None, depth: int
) -> Any:
    if not isinstance(schema, Mapping):
        return f"fake {name or 'value'}"
    if depth > 4 * MAX_DEPTH:
        return None
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "$ref" in schema:
        return _fill(_resolve(schema["$ref"], root), root, name, depth + 1)
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            merged = {k: v for k, v in schema.items() if k != key}
            return _fill({**merged, **_as_dict(schema[key][0])}, root, name, depth + 1)
    if schema.get("allOf"):
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged = _merge(merged, _as_dict(part))
        return _fill(merged, root, name, depth + 1)
    kind = _type_of(schema)
    title = str(schema.get("title") or name or "value")
    if kind == "object":
        properties = schema.get("properties") or {}
        if depth > MAX_DEPTH:
            required = set(schema.get("required") or ())
            properties = {k: v for k, v in properties.items() if k in required}
        return {prop: _fill(sub, root, prop, depth + 1) for prop, sub in properties.items()}
    if kind == "array":
        return _array(schema, root, name, depth)
    if kind == "integer":
        return int(_bounded(schema, 1, step=1))
    if kind == "number":
        return float(_bounded(schema, 1.0, step=0.5))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, title)


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"] or ["null"]
        kind = kinds[0]
    if kind is None:
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        return "string"
    return str(kind)


def _string(schema: Mapping[str, Any], title: str) -> str:
    text = f"fake {title}"
    min_length = int(schema.get("minLength", 0))
    if len(text) < min_length:
        text += "x" * (min_length - len(text))
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text


def _array(
    schema: Mapping[str, Any], root: Mapping[str, Any], name: str | None, depth: int
) -> list[Any]:
    items = schema.get("items", {})
    prefix = schema.get("prefixItems")
    count = int(schema.get("minItems", 0))
    if depth <= MAX_DEPTH:
        count = max(1, count)
    if "maxItems" in schema:
        count = min(count, int(schema["maxItems"]))
    if isinstance(prefix, list):
        return [_fill(sub, root, name, depth + 1) for sub in prefix]
    if isinstance(items, list):  # draft-4 tuple form
        return [_fill(sub, root, name, depth + 1) for sub in items]
    return [_fill(items, root, name, depth + 1) for _ in range(count)]


def _bounded(schema: Mapping[str, Any], value: float, *, step: float) -> float:
    if "minimum" in schema and value < schema["minimum"]:
        value = schema["minimum"]
    if "exclusiveMinimum" in schema and isinstance(schema["exclusiveMinimum"], (int, float)):
        if value <= schema["exclusiveMinimum"]:
            value = schema["exclusiveMinimum"] + step
    if "maximum" in schema and value > schema["maximum"]:
        value = schema["maximum"]
    if "exclusiveMaximum" in schema and isinstance(schema["exclusiveMaximum"], (int, float)):
        if value >= schema["exclusiveMaximum"]:
            value = schema["exclusiveMaximum"] - step
    return value


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#"):
        return {}
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return {}
        node = node[part]
    return node if isinstance(node, Mapping) else {}


def _as_dict(schema: Any) -> dict[str, Any]:
    return dict(schema) if isinstance(schema, Mapping) else {}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **extra}
    if "properties" in base and "properties" in extra:
        merged["properties"] = {**base["properties"], **extra["properties"]}
    if "required" in base and "required" in extra:
        merged["required"] = sorted(set(base["required"]) | set(extra["required"]))
    return merged
