"""Malformed JSON Schemas in properties: refused with a SpecError naming the property
and the place; every schema a Property accepts can be read by the type rules."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from loom.errors import SpecError
from loom.spec.property import Property
from loom.spec.types import describe_type, is_castable, same_type, value_matches

MALFORMED = [
    ({"anyOf": True}, "property 'p': malformed JSON Schema: 'anyOf' must be a list"),
    ({"anyOf": {"type": "string"}}, "'anyOf' must be a list"),
    ({"anyOf": [5]}, "property 'p': malformed JSON Schema: 'anyOf[0]' must be a schema"),
    ({"properties": "abc"}, "'properties' must be an object"),
    ({"properties": {"a": 5}}, "'properties['a']' must be a schema (an object)"),
    ({"items": 5}, "'items' must be a schema (an object)"),
    ({"items": True}, "'items' must be a schema (an object)"),
    ({"items": [{"type": "string"}]}, "'items' must be a schema (an object)"),
    ({"additionalProperties": "x"}, "'additionalProperties' must be a schema (an object)"),
    ({"type": [1, 2]}, "'type' must name JSON types, not [1, 2]"),
    ({"type": [["string"]]}, "'type' must name JSON types, not [['string']]"),
    ({"type": 5}, "'type' must name JSON types, not 5"),
    ({"type": "text"}, "'type' must name JSON types, not 'text'"),
    ({"items": {"component_type": "StartNode", "name": "s"}},
     "property 'p' > items: malformed JSON Schema: a component cannot sit in it"),
    ({"properties": {"a": {"$component_ref": "x"}}},
     "property 'p' > properties['a']: malformed JSON Schema: a component cannot sit in it"),
    ({"items": {"properties": {"b": {"anyOf": [{"items": 1}]}}}},
     "property 'p' > items > properties['b'] > anyOf[0]: malformed JSON Schema: 'items'"),
]


@pytest.mark.parametrize(("schema", "message"), MALFORMED)
def test_a_malformed_schema_is_refused(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as info:
        Property(json_schema={"title": "p", **schema})
    assert message in str(info.value)


WELL_FORMED = [
    {}, {"type": "string"}, {"type": ["string", "null"]}, {"anyOf": []},
    {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "string"}}]},
    {"type": "object", "properties": {}, "additionalProperties": False},
    {"type": "object", "additionalProperties": True},
    {"type": "object", "properties": None, "additionalProperties": {"type": "number"}},
    {"type": ["array", "object"], "items": {}, "properties": {"a": {"type": "null"}}},
    {"type": "string", "default": {"$component_ref": "x"}},  # a default is data
]


def test_every_accepted_schema_can_be_read_by_the_type_rules() -> None:
    schemas = [Property(json_schema={"title": "p", **schema}).json_schema
               for schema in WELL_FORMED]
    for a, b in itertools.product(schemas, repeat=2):
        is_castable(a, b)
        same_type(a, b)
    for schema, value in itertools.product(schemas, [None, 1, "x", [1], {"a": None}]):
        value_matches(value, schema)
        describe_type(schema)
