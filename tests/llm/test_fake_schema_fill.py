"""fake_instance: deterministic values that validate against their schema."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from loom.testing import fake_instance

SCHEMAS: list[dict[str, Any]] = [
    {"type": "string"},
    {"type": "string", "minLength": 30},
    {"type": "string", "maxLength": 3},
    {"type": "integer", "minimum": 5, "maximum": 9},
    {"type": "integer", "exclusiveMaximum": 0},
    {"type": "number", "exclusiveMinimum": 2},
    {"type": "array", "items": {"type": "integer"}, "minItems": 3},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}]},
    {"type": ["null", "integer"]},
    {"oneOf": [{"type": "object", "properties": {"k": {"const": "v"}}}, {"type": "string"}]},
    {
        "allOf": [
            {"properties": {"a": {"type": "string"}}},
            {"properties": {"b": {"type": "number"}}},
        ]
    },
    {
        "$defs": {"Item": {"type": "object", "properties": {"id": {"type": "integer"}}}},
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
    },
    {
        "definitions": {"Node": {"type": "object", "properties": {"next": {"$ref": "#"}}}},
        "$ref": "#/definitions/Node",
    },
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_value_validates(schema: dict[str, Any]) -> None:
    value = fake_instance(schema)
    jsonschema.validate(value, schema)
    assert fake_instance(schema) == value


def test_documented_values() -> None:
    schema = {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "label": {"type": "string", "title": "Short label"},
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "ok": {"type": "boolean"},
            "color": {"enum": ["red", "blue"]},
            "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "mode": {"type": "string", "default": "fast"},
            "list": {"type": "array", "items": {"type": "string"}},
            "nested": {"type": "object", "properties": {"x": {"type": "null"}}},
        },
    }
    assert fake_instance(schema) == {
        "summary": "fake summary",
        "label": "fake Short label",
        "count": 1,
        "ratio": 1.0,
        "ok": True,
        "color": "red",
        "either": 1,
        "mode": "fast",
        "list": ["fake list"],
        "nested": {"x": None},
    }
