"""Property helpers (AGENTSPEC 2.1): the schema each helper writes, titles, defaults."""

from __future__ import annotations

import pytest

from loom.errors import SpecError
from loom.spec.property import (
    EMPTY,
    AnyProperty,
    BooleanProperty,
    DictProperty,
    FloatProperty,
    IntegerProperty,
    ListProperty,
    NullProperty,
    NumberProperty,
    ObjectProperty,
    Property,
    StringProperty,
    UnionProperty,
    by_title,
    titles,
)


@pytest.mark.parametrize(
    ("prop", "schema"),
    [
        (StringProperty("s"), {"title": "s", "type": "string"}),
        (IntegerProperty("i"), {"title": "i", "type": "integer"}),
        (NumberProperty("n"), {"title": "n", "type": "number"}),
        (FloatProperty("f"), {"title": "f", "type": "number"}),
        (BooleanProperty("b"), {"title": "b", "type": "boolean"}),
        (NullProperty("z"), {"title": "z", "type": "null"}),
        (AnyProperty("a"), {"title": "a"}),
        (
            ListProperty("l", item_type=StringProperty("item")),
            {"title": "l", "type": "array", "items": {"title": "item", "type": "string"}},
        ),
        (ListProperty("l"), {"title": "l", "type": "array"}),
        (
            DictProperty("d", value_type={"type": "integer"}),
            {"title": "d", "type": "object", "properties": {}, "additionalProperties": {"type": "integer"}},
        ),
        (
            ObjectProperty("o", properties={"x": IntegerProperty("x")}, required=["x"]),
            {
                "title": "o",
                "type": "object",
                "properties": {"x": {"title": "x", "type": "integer"}},
                "required": ["x"],
            },
        ),
        (
            UnionProperty("u", any_of=[StringProperty("u"), {"type": "null"}]),
            {"title": "u", "anyOf": [{"title": "u", "type": "string"}, {"type": "null"}]},
        ),
    ],
)
def test_helpers_write_the_schema_pyagentspec_writes(prop: Property, schema: dict) -> None:
    assert prop.json_schema == schema
    assert prop.to_dict() == schema


def test_helpers_match_the_reference_sdk() -> None:
    sdk = pytest.importorskip("pyagentspec.property")
    pairs = [
        (StringProperty("s", description="d", default="x"), sdk.StringProperty(title="s", description="d", default="x")),
        (IntegerProperty("i", default=0), sdk.IntegerProperty(title="i", default=0)),
        (
            ListProperty("l", item_type=FloatProperty("f")),
            sdk.ListProperty(title="l", item_type=sdk.FloatProperty(title="f")),
        ),
        (
            DictProperty("d", value_type=StringProperty("v")),
            sdk.DictProperty(title="d", value_type=sdk.StringProperty(title="v")),
        ),
        (
            ObjectProperty("o", properties={"k": BooleanProperty("k")}),
            sdk.ObjectProperty(title="o", properties={"k": sdk.BooleanProperty(title="k")}),
        ),
        (
            UnionProperty("u", any_of=[StringProperty("u"), NullProperty("u")]),
            sdk.UnionProperty(title="u", any_of=[sdk.StringProperty(title="u"), sdk.NullProperty(title="u")]),
        ),
    ]
    for ours, theirs in pairs:
        assert ours.json_schema == theirs.json_schema


def test_a_bare_schema_is_a_property() -> None:
    prop = Property.model_validate({"title": "x", "type": "integer", "default": 3})
    assert prop.title == "x"
    assert prop.type == "integer"
    assert prop.default == 3


def test_a_schema_without_title_is_named_property_like_the_sdk() -> None:
    assert Property(json_schema={"type": "string"}).title == "property"


def test_defaults_none_is_a_real_default() -> None:
    prop = StringProperty("s", default=None)
    assert prop.has_default
    assert prop.default is None
    bare = StringProperty("s")
    assert not bare.has_default
    assert bare.default is EMPTY


@pytest.mark.parametrize("bad", ["a.b", "a,b", "a b", "a{b", "a}b", "a'b", 'a"b', "a\nb"])
def test_titles_with_forbidden_characters_are_refused(bad: str) -> None:
    with pytest.raises(SpecError, match="forbidden character"):
        StringProperty(bad)


def test_forbidden_characters_are_refused_in_nested_titles_too() -> None:
    with pytest.raises(SpecError, match="'bad title'"):
        ListProperty("ok", item_type={"title": "bad title", "type": "string"})
    with pytest.raises(SpecError, match="forbidden"):
        ObjectProperty("ok", properties={"x": {"title": "x.y", "type": "string"}})
    with pytest.raises(SpecError, match="forbidden"):
        UnionProperty("ok", any_of=[{"title": "{x}", "type": "string"}])


def test_empty_or_non_string_titles_are_refused() -> None:
    with pytest.raises(SpecError, match="non-empty string"):
        Property(json_schema={"title": "", "type": "string"})
    with pytest.raises(SpecError, match="non-empty string"):
        Property(json_schema={"title": 3, "type": "string"})


def test_with_title_copies_the_schema() -> None:
    original = ListProperty("items", item_type=IntegerProperty("i"))
    renamed = original.with_title("collected_items")
    renamed.json_schema["items"]["type"] = "string"
    assert original.json_schema["items"]["type"] == "integer"
    assert renamed.title == "collected_items"


def test_to_dict_is_a_copy() -> None:
    prop = StringProperty("s")
    prop.to_dict()["type"] = "integer"
    assert prop.type == "string"


def test_titles_and_by_title() -> None:
    props = [StringProperty("a"), IntegerProperty("b")]
    assert titles(props) == ["a", "b"]
    assert titles(None) == []
    assert by_title(props)["b"].type == "integer"


def test_properties_are_equal_when_their_schemas_are() -> None:
    assert StringProperty("s") == Property.model_validate({"title": "s", "type": "string"})
    assert StringProperty("s") != StringProperty("t")
    assert StringProperty("s") != {"title": "s", "type": "string"}
