"""Whether an answer fits its request's ``answer_schema``, and if not, what is wrong.

``jsonschema`` decides; this module only words its first error the way the rest of
the API speaks ("'width' must be an integer, not a number")."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

_NAMES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
          list: "an array", dict: "an object", type(None): "null"}
_ARTICLES = {"integer": "an integer", "array": "an array", "object": "an object",
             "null": "null"}


def misfit(schema: Mapping[str, Any], value: Any, at: str = "it") -> str | None:
    """What is wrong with ``value`` (``at`` names where it is), or None if it fits."""
    error = best_match(Draft202012Validator(schema).iter_errors(value))
    if error is None:
        return None
    where = _where(at, error.absolute_path)
    if error.validator in ("anyOf", "oneOf") and isinstance(error.validator_value, list):
        return misfit(error.validator_value[0], error.instance, where)  # the main shape
    return f"{where} {_what(error)}"


def _where(at: str, path: Sequence[str | int]) -> str:
    for step in path:
        at = f"{at}[{step}]" if isinstance(step, int) else f"'{step}'"
    return at


def _what(error: ValidationError) -> str:
    rule, instance = error.validator, error.instance
    props = sorted(error.schema.get("properties") or {}) if isinstance(error.schema, dict) \
        else []
    if rule == "type":
        kinds = error.validator_value
        names = [kinds] if isinstance(kinds, str) else list(kinds)
        wanted = " or ".join(_ARTICLES.get(str(name), f"a {name}") for name in names)
        return f"must be {wanted}, not {_name(instance)}"
    if rule == "enum":
        return f"must be one of {json.dumps(error.validator_value)}, not {json.dumps(instance)}"
    if rule == "required":
        missing = next(name for name in error.validator_value if name not in instance)
        return f"has no '{missing}', which is required (give {props})"
    if rule == "additionalProperties":
        extra = sorted(set(instance) - set(props))
        return f"has {extra}, which are not among {props}"
    return f"does not fit: {error.message}"


def _name(value: Any) -> str:
    return _NAMES.get(type(value), type(value).__name__)
