"""Type rules of AGENTSPEC 2.3-2.5: castability, same type, value compatibility."""

from __future__ import annotations

import pytest

from loom.spec.types import describe_type, is_castable, same_type, value_matches

STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
NULL = {"type": "null"}
ANY: dict = {}
OBJ = {"type": "object"}


def array(items: dict | None = None) -> dict:
    return {"type": "array", **({"items": items} if items is not None else {})}


def mapping(values: dict) -> dict:
    return {"type": "object", "properties": {}, "additionalProperties": values}


def obj(**props: dict) -> dict:
    return {"type": "object", "properties": props}


# -- the conversion rules of the spec -----------------------------------------------


@pytest.mark.parametrize("source", [STR, INT, NUM, BOOL, NULL, ANY, array(INT), mapping(INT), obj(a=STR)])
def test_anything_converts_to_string(source: dict) -> None:
    assert is_castable(source, STR)


@pytest.mark.parametrize("source", [STR, INT, array(STR), OBJ, NULL])
def test_anything_flows_into_an_untyped_input(source: dict) -> None:
    assert is_castable(source, ANY)


@pytest.mark.parametrize(
    ("source", "dest"),
    [(INT, NUM), (NUM, INT), (BOOL, INT), (INT, BOOL), (NUM, BOOL), (BOOL, NUM)],
)
def test_numbers_and_booleans_convert_into_each_other(source: dict, dest: dict) -> None:
    assert is_castable(source, dest)


def test_identical_schemas_are_compatible() -> None:
    schema = {"type": "object", "properties": {"a": INT}, "additionalProperties": False}
    assert is_castable(dict(schema), dict(schema))


# -- unions ---------------------------------------------------------------------------


def test_a_type_fits_a_wider_union_but_not_the_reverse() -> None:
    nullable = {"type": ["number", "null"]}
    assert is_castable(NUM, nullable)
    assert not is_castable(nullable, NUM)


def test_any_of_is_expanded_like_a_type_list() -> None:
    nullable = {"anyOf": [NUM, NULL]}
    assert is_castable(INT, nullable)
    assert is_castable(NULL, nullable)
    assert not is_castable(nullable, INT)
    assert is_castable(nullable, {"anyOf": [INT, NULL]})


def test_union_source_into_string_is_fine() -> None:
    assert is_castable({"anyOf": [INT, array(INT)]}, STR)


def test_list_type_keeps_items_for_the_array_alternative() -> None:
    source = {"type": ["array", "null"], "items": INT}
    assert is_castable(source, {"anyOf": [array(NUM), NULL]})
    assert not is_castable(source, {"anyOf": [array(obj(a=STR)), NULL]})


# -- arrays and objects -------------------------------------------------------------------


def test_arrays_compare_their_items() -> None:
    assert is_castable(array(INT), array(NUM))
    assert is_castable(array(INT), array(STR))
    assert not is_castable(array(STR), array(INT))
    assert is_castable(array(INT), array())  # missing items = untyped


def test_objects_need_every_destination_property() -> None:
    assert is_castable(obj(a=INT, b=STR), obj(a=NUM))  # the source may have more keys
    assert not is_castable(obj(a=INT), obj(a=INT, b=STR))
    assert not is_castable(obj(a=STR), obj(a=INT))


def test_additional_properties_booleans_must_be_equal() -> None:
    closed = {"type": "object", "properties": {}, "additionalProperties": False}
    open_ = {"type": "object", "properties": {}, "additionalProperties": True}
    assert not is_castable(closed, open_)
    assert not is_castable(closed, mapping(STR))
    assert is_castable(closed, dict(closed))


# -- the surprises listed in AGENTSPEC 2.3 --------------------------------------------------


@pytest.mark.parametrize("dest", [INT, NUM, BOOL, OBJ, array(), NULL])
def test_untyped_source_only_fits_string_or_untyped(dest: dict) -> None:
    assert not is_castable({"title": "response"}, dest)
    assert is_castable({"title": "response"}, STR)
    assert is_castable({"title": "response"}, ANY)


def test_untyped_source_fits_a_union_as_in_the_sdk() -> None:
    # The SDK expands an untyped schema into no alternatives, so "every source
    # alternative fits" holds vacuously: an ApiNode's `response` may feed a MapNode.
    assert is_castable({"title": "response"}, {"anyOf": [INT, array(INT)]})
    assert is_castable({"title": "response"}, {"type": ["number", "null"]})


def test_string_does_not_convert_to_number() -> None:
    assert not is_castable(STR, NUM)
    assert not is_castable(STR, INT)
    assert not is_castable(STR, BOOL)


def test_null_to_null_with_different_titles_is_compatible_in_loom() -> None:
    # The SDK compares whole schemas (titles included) and refuses this; the digest
    # recommends treating identical primitive types as compatible, which loom does.
    assert is_castable({"title": "a", "type": "null"}, {"title": "b", "type": "null"})


def test_bare_object_converts_to_a_map_of_strings() -> None:
    assert is_castable(OBJ, mapping(STR))


def test_map_of_integers_converts_to_map_of_strings_but_not_back() -> None:
    assert is_castable(mapping(INT), mapping(STR))
    assert not is_castable(mapping(STR), mapping(INT))


def test_titles_descriptions_and_defaults_do_not_matter() -> None:
    assert is_castable(
        {"title": "x", "type": "array", "items": INT, "description": "d"},
        {"title": "y", "type": "array", "items": INT, "default": []},
    )


# -- same type (merges) ----------------------------------------------------------------------


def test_same_type_ignores_titles_descriptions_defaults() -> None:
    assert same_type({"title": "a", "type": "string"}, {"title": "b", "type": "string", "default": ""})


def test_same_type_is_strict_about_the_type() -> None:
    assert not same_type(INT, NUM)
    assert not same_type(STR, ANY)
    assert not same_type(array(INT), array(STR))
    assert same_type(array(INT), array(INT))


def test_same_type_compares_unions_as_sets() -> None:
    assert same_type({"anyOf": [STR, NULL]}, {"type": ["null", "string"]})
    assert not same_type({"anyOf": [STR, NULL]}, {"anyOf": [STR, INT]})
    assert not same_type({"anyOf": [STR, NULL]}, STR)


def test_same_type_of_objects_needs_the_same_keys() -> None:
    assert same_type(obj(a=INT), obj(a=INT))
    assert not same_type(obj(a=INT), obj(a=INT, b=STR))
    assert same_type(mapping(STR), mapping(STR))
    assert not same_type(mapping(STR), mapping(INT))
    closed = {"type": "object", "properties": {}, "additionalProperties": False}
    assert not same_type(closed, mapping(STR))


# -- value compatibility --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [
        ("x", STR, True),
        (3, STR, True),  # anything is accepted by a string
        ({"a": 1}, ANY, True),
        (None, NULL, True),
        (0, NULL, False),
        (1.5, INT, True),  # integer/number/boolean accept each other's values
        (True, NUM, True),
        ("1", INT, False),
        ([1, 2], array(INT), True),
        ([1, "a"], array(INT), False),
        ("ab", array(STR), False),
        (None, {"anyOf": [STR, NULL]}, True),
        ([], {"type": ["integer", "null"]}, False),
        ({"a": 1}, obj(a=INT), True),
        ({}, obj(a=INT), False),
        ({}, obj(a={"type": "integer", "default": 0}), True),
        ({"a": 1, "b": "x"}, {**obj(a=INT), "additionalProperties": False}, False),
        ({"k": "v"}, mapping(STR), True),
        ({"k": [1]}, mapping(INT), False),
        ([1], OBJ, False),
    ],
)
def test_value_matches(value: object, schema: dict, expected: bool) -> None:
    assert value_matches(value, schema) is expected


@pytest.mark.parametrize(
    ("schema", "text"),
    [
        (STR, "string"),
        (ANY, "any"),
        (array(INT), "array of integer"),
        (mapping(STR), "map of string"),
        ({"anyOf": [STR, NULL]}, "string | null"),
        ({"type": ["number", "null"]}, "number | null"),
        (obj(a=INT), "object"),
    ],
)
def test_describe_type(schema: dict, text: str) -> None:
    assert describe_type(schema) == text


# -- the same answers as the reference SDK (pyagentspec is a test-only oracle) ----------------

_MATRIX = [
    STR, INT, NUM, BOOL, NULL, {"title": "untyped"}, OBJ,
    array(), array(INT), array(STR), array(obj(a=INT)),
    mapping(STR), mapping(INT), obj(a=INT), obj(a=INT, b=STR),
    {"type": "object", "properties": {}, "additionalProperties": False},
    {"type": ["number", "null"]}, {"anyOf": [STR, NULL]}, {"anyOf": [INT, array(INT)]},
    {"type": ["array", "null"], "items": INT},
]


def _titled(schema: dict, title: str) -> dict:
    return {"title": title, **schema} if "title" not in schema else dict(schema)


@pytest.mark.parametrize("dest", _MATRIX, ids=describe_type)
def test_castability_agrees_with_the_reference_sdk(dest: dict) -> None:
    sdk_property = pytest.importorskip("pyagentspec.property")
    for source in _MATRIX:
        # Same titles on both sides: the SDK's one known divergence is about titles.
        a, b = _titled(source, "v"), _titled(dest, "v")
        expected = sdk_property.json_schema_is_castable_to(a, b)
        assert is_castable(a, b) is expected, (source, dest)


@pytest.mark.parametrize("b", _MATRIX, ids=describe_type)
def test_same_type_agrees_with_the_reference_sdk(b: dict) -> None:
    sdk_property = pytest.importorskip("pyagentspec.property")
    for a in _MATRIX:
        try:
            expected = sdk_property.json_schemas_have_same_type(_titled(a, "v"), _titled(b, "v"))
        except KeyError:  # the SDK crashes on a map compared with a bare object
            continue
        assert same_type(_titled(a, "v"), _titled(b, "v")) is expected, (a, b)
