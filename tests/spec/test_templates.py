"""Placeholders (AGENTSPEC 3): what defines an input, and how values are rendered."""

from __future__ import annotations

import pytest

from loom.spec.templates import placeholders, placeholders_in, render, render_nested, to_text


@pytest.mark.parametrize("text", ["{{user_name}}", "{{ user_name }}", "{{  user_name  }}", "{{\tuser_name\n}}"])
def test_spacing_inside_the_braces_does_not_matter(text: str) -> None:
    assert placeholders(text) == ["user_name"]


@pytest.mark.parametrize(
    "text",
    [
        "{single}",
        "{{ a.b }}",
        "{{ x | upper }}",
        "{{ }}",
        "{{}}",
        "{% if x %}y{% endif %}",
        "{# comment #}",
        "{{ two words }}",
        "{{ x-y }}",
    ],
)
def test_anything_but_a_plain_name_is_literal_text(text: str) -> None:
    assert placeholders(text) == []


def test_names_are_case_sensitive_and_counted_once() -> None:
    assert placeholders("{{a}} {{A}} {{ a }} {{b}}") == ["a", "A", "b"]


def test_unicode_word_characters_are_names() -> None:
    assert placeholders("Grüße {{ prénom_1 }}") == ["prénom_1"]


def test_no_text_no_placeholders() -> None:
    assert placeholders(None) == []
    assert placeholders("") == []


def test_placeholders_in_nested_values_include_keys_and_bytes() -> None:
    value = {"{{k}}": ["{{ a }}", {"x": "{{b}} {{a}}"}], "n": 3, "raw": b"{{c}}", "t": ("{{d}}",)}
    assert placeholders_in(value) == ["k", "a", "b", "c", "d"]


def test_placeholders_agree_with_the_reference_sdk() -> None:
    templating = pytest.importorskip("pyagentspec.templating")
    text = "{{a}} {{ b }} {c} {{ d.e }} {{f|g}} {% h %} {{ a }} {{ ünï }}"
    assert sorted(placeholders(text)) == sorted(templating.get_placeholders_from_string(text))


def test_render_substitutes_strings_verbatim() -> None:
    assert render("Hi {{ name }}, {{name}}!", {"name": "Ann <b>"}) == "Hi Ann <b>, Ann <b>!"


def test_render_writes_other_values_as_json() -> None:
    text = "{{d}} {{l}} {{t}} {{n}} {{f}}"
    values = {"d": {"a": 1}, "l": [1, "x"], "t": True, "n": None, "f": 1.5}
    assert render(text, values) == '{"a": 1} [1, "x"] true null 1.5'


def test_render_leaves_unknown_placeholders_and_jinja_alone() -> None:
    text = "{{ known }} {{ unknown }} {% if x %}{{ x | upper }}{% endif %}"
    assert render(text, {"known": "k", "x": "never"}) == (
        "k {{ unknown }} {% if x %}{{ x | upper }}{% endif %}"
    )


def test_render_never_evaluates_the_value() -> None:
    assert render("{{a}}", {"a": "{{b}}", "b": "no"}) == "{{b}}"


def test_to_text_falls_back_to_str_for_non_json_values() -> None:
    assert to_text({1, 2}) in ("{1, 2}", "{2, 1}")
    assert to_text("é") == "é"


def test_render_nested_keeps_the_shape() -> None:
    value = {"{{k}}": ["{{a}}", 3, {"x": "id={{a}}"}], "n": None}
    assert render_nested(value, {"k": "key", "a": 7}) == {"key": ["7", 3, {"x": "id=7"}], "n": None}
