"""Type rules between JSON schemas, as the language defines them.

``is_castable`` decides whether a data edge may connect two properties,
``same_type`` whether two properties may be merged, and ``value_matches``
whether a value fits a schema (defaults, tool results, LLM answers).
"""

from __future__ import annotations

from typing import Any

_NUMERIC = {"number", "integer", "boolean"}
_IGNORED = {"title", "description", "default"}


def _alternatives(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Split a union (``anyOf`` or a list of types) into single-type schemas."""
    if "anyOf" in schema:
        out: list[dict[str, Any]] = []
        for sub in schema["anyOf"]:
            out.extend(_alternatives(sub))
        return out
    kind = schema.get("type")
    if isinstance(kind, list):
        alts = []
        for single in kind:
            alt: dict[str, Any] = {"type": single}
            if single == "array" and "items" in schema:
                alt["items"] = schema["items"]
            if single == "object":
                alt["properties"] = schema.get("properties", {})
                alt["additionalProperties"] = schema.get("additionalProperties", False)
            alts.append(alt)
        return alts
    return [schema]


def _is_union(schema: dict[str, Any]) -> bool:
    return "anyOf" in schema or isinstance(schema.get("type"), list)


def _untyped(schema: dict[str, Any]) -> bool:
    return "type" not in schema and "anyOf" not in schema


def _strip(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in _IGNORED}


def is_castable(source: dict[str, Any], dest: dict[str, Any]) -> bool:
    """True when a value of type ``source`` may flow into an input of type ``dest``."""
    if _strip(source) == _strip(dest):
        return True
    if _untyped(dest) or dest.get("type") == "string":
        return True
    if _is_union(source) or _is_union(dest):
        if _untyped(source):
            # An untyped source has no alternatives to check, so it fits any union (as
            # in the SDK, where an ApiNode's untyped ``response`` may feed a MapNode).
            return True
        dest_alts = _alternatives(dest)
        return all(
            any(is_castable(s, d) for d in dest_alts) for s in _alternatives(source)
        )
    s_type, d_type = source.get("type"), dest.get("type")
    if s_type in _NUMERIC and d_type in _NUMERIC:
        return True
    if s_type == "array" and d_type == "array":
        return is_castable(source.get("items", {}), dest.get("items", {}))
    if s_type == "object" and d_type == "object":
        s_props = source.get("properties", {}) or {}
        for key, d_sub in (dest.get("properties", {}) or {}).items():
            if key not in s_props or not is_castable(s_props[key], d_sub):
                return False
        s_extra = source.get("additionalProperties", {})
        d_extra = dest.get("additionalProperties", {})
        if isinstance(s_extra, bool) or isinstance(d_extra, bool):
            return bool(s_extra == d_extra)
        return is_castable(s_extra, d_extra)
    return False


def same_type(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when two schemas describe the same type (titles, defaults ignored)."""
    if _is_union(a) or _is_union(b):
        alts_a, alts_b = _alternatives(a), _alternatives(b)
        return all(any(same_type(x, y) for y in alts_b) for x in alts_a) and all(
            any(same_type(y, x) for x in alts_a) for y in alts_b
        )
    if a.get("type") != b.get("type"):
        return False
    if a.get("type") == "array":
        return same_type(a.get("items", {}), b.get("items", {}))
    if a.get("type") == "object":
        pa, pb = a.get("properties", {}) or {}, b.get("properties", {}) or {}
        if set(pa) != set(pb) or not all(same_type(pa[k], pb[k]) for k in pa):
            return False
        ea, eb = a.get("additionalProperties", {}), b.get("additionalProperties", {})
        if isinstance(ea, bool) or isinstance(eb, bool):
            return bool(ea == eb)
        return same_type(ea, eb)
    return True


def value_matches(value: Any, schema: dict[str, Any]) -> bool:
    """``value`` fits ``schema`` (spec 2.5, as the SDK: numbers and booleans fit each other)."""
    if "anyOf" in schema or isinstance(schema.get("type"), list):
        return any(value_matches(value, alt) for alt in _alternatives(schema))
    kind = schema.get("type")
    if kind is None or kind == "string":
        return True
    if kind == "null":
        return value is None
    if kind in _NUMERIC:
        return isinstance(value, (int, float, bool))
    if kind == "array":
        items = schema.get("items", {})
        return isinstance(value, (list, tuple)) and all(value_matches(v, items) for v in value)
    if kind == "object":
        if not isinstance(value, dict):
            return False
        props = schema.get("properties", {}) or {}
        for key, sub in props.items():
            if key in value:
                if not value_matches(value[key], sub):
                    return False
            elif "default" not in sub:
                return False
        extra = schema.get("additionalProperties", {})
        for key, item in value.items():
            if key in props:
                continue
            if extra is False:
                return False
            if isinstance(extra, dict) and not value_matches(item, extra):
                return False
        return True
    return True


def describe_type(schema: dict[str, Any]) -> str:
    """A short human-readable name for a schema's type, for messages."""
    if "anyOf" in schema:
        return " | ".join(describe_type(s) for s in schema["anyOf"])
    kind = schema.get("type")
    if kind is None:
        return "any"
    if isinstance(kind, list):
        return " | ".join(kind)
    if kind == "array":
        return f"array of {describe_type(schema.get('items', {}))}"
    if kind == "object" and not schema.get("properties") and isinstance(
        schema.get("additionalProperties"), dict
    ):
        return f"map of {describe_type(schema['additionalProperties'])}"
    return str(kind)
