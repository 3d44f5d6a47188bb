"""loom.observability.masking, value by value: the cases that mutation testing
(scripts/mutation) found no test for. Each test pins one rule of what a trace may hold."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest
from pydantic import BaseModel

from loom.errors import NodeFailure
from loom.observability.masking import (
    REDACTED,
    Scrubber,
    component_ref,
    environment_secrets,
    secrets_of,
    to_jsonable,
)
from loom.runtime.journal import PendingRequest
from loom.spec import ToolNode
from loom.spec.llms import OpenAiCompatibleConfig
from loom.spec.tools import RemoteTool, ServerTool

MAX_DEPTH = 32  # masking._MAX_DEPTH: deeper containers are written as "..."


def nest(value: Any, levels: int) -> list[Any] | Any:
    """``value`` inside ``levels`` lists."""
    for _ in range(levels):
        value = [value]
    return value


class Stamp(BaseModel):
    at: datetime.datetime
    inner: Any = None


@dataclasses.dataclass
class Point:
    x: int
    tags: Any = None


class Reported:
    """Not a model nor a dataclass: traced through its own ``to_dict``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def to_dict(self) -> dict[str, Any]:
        return {"inner": self.inner}


class Opaque:
    def __str__(self) -> str:
        return "opaque!"


# --- to_jsonable --------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, True, 0, 7, 2.5, "", "text"])
def test_json_scalars_are_kept_as_they_are(value: Any) -> None:
    out = to_jsonable(value)
    assert out == value and type(out) is type(value)


def test_containers_are_kept_to_the_maximum_depth_and_cut_below_it() -> None:
    # The outermost list is at depth 0, so 33 lists (depths 0..32) are kept whole.
    assert to_jsonable(nest(1, MAX_DEPTH + 1)) == nest(1, MAX_DEPTH + 1)
    assert to_jsonable(nest(1, MAX_DEPTH + 2)) == nest("...", MAX_DEPTH + 1)
    assert to_jsonable(nest(1, MAX_DEPTH + 1), depth=1) == nest("...", MAX_DEPTH)


def test_a_mapping_counts_one_level_of_depth() -> None:
    assert to_jsonable(nest({"x": [1]}, MAX_DEPTH - 1)) == nest({"x": [1]}, MAX_DEPTH - 1)
    assert to_jsonable(nest({"x": [1]}, MAX_DEPTH)) == nest({"x": "..."}, MAX_DEPTH)


def test_mapping_keys_become_text_and_sequences_lists() -> None:
    assert to_jsonable({1: (2, 3), None: frozenset({4})}) == {"1": [2, 3], "None": [4]}
    assert sorted(to_jsonable({5, 6})) == [5, 6]


def test_a_model_is_written_as_its_json_dump_one_level_down() -> None:
    at = datetime.datetime(2025, 5, 1, 9, 30)
    assert to_jsonable(Stamp(at=at)) == {"at": "2025-05-01T09:30:00", "inner": None}
    deep = Stamp(at=at, inner=[1])
    assert to_jsonable(nest(deep, MAX_DEPTH - 2)) == nest(
        {"at": "2025-05-01T09:30:00", "inner": [1]}, MAX_DEPTH - 2)
    assert to_jsonable(nest(deep, MAX_DEPTH - 1)) == nest(
        {"at": "2025-05-01T09:30:00", "inner": "..."}, MAX_DEPTH - 1)


def test_to_dict_wins_over_the_dataclass_fields_one_level_down() -> None:
    request = PendingRequest(id="r1", kind="input", node="ask", key="main>ask#1", prompt="?")
    assert to_jsonable(request) == {"id": "r1", "kind": "input", "node": "ask",
                                    "prompt": "?", "tool_call": None,
                                    "answer_schema": {"type": "string"}}  # no "key"
    assert to_jsonable(nest(Reported([1]), MAX_DEPTH - 2)) == nest(
        {"inner": [1]}, MAX_DEPTH - 2)
    assert to_jsonable(nest(Reported([1]), MAX_DEPTH - 1)) == nest(
        {"inner": "..."}, MAX_DEPTH - 1)


def test_a_dataclass_is_written_as_its_fields_one_level_down() -> None:
    assert to_jsonable(Point(1, ("a",))) == {"x": 1, "tags": ["a"]}
    assert to_jsonable(nest(Point(1, [2]), MAX_DEPTH - 2)) == nest(
        {"x": 1, "tags": [2]}, MAX_DEPTH - 2)
    assert to_jsonable(nest(Point(1, [2]), MAX_DEPTH - 1)) == nest(
        {"x": 1, "tags": "..."}, MAX_DEPTH - 1)


def test_classes_bytes_and_other_objects_become_text() -> None:
    assert to_jsonable(Point) == str(Point)  # a dataclass type, not an instance
    assert to_jsonable(b"\x00\x01\x02") == "<3 bytes>"
    assert to_jsonable(bytearray(5)) == "<5 bytes>"
    assert to_jsonable(Opaque()) == "opaque!"


def test_an_exception_is_its_type_and_first_line() -> None:
    assert to_jsonable(ValueError("bad value\nsecond line")) == {
        "type": "ValueError", "message": "bad value"}
    wrapped = NodeFailure("tool failed", ("main", "step"))
    wrapped.__cause__ = KeyError("k")
    assert to_jsonable(wrapped)["type"] == "KeyError"


def test_a_component_is_only_its_reference() -> None:
    llm = OpenAiCompatibleConfig(name="model", url="http://localhost:1", model_id="m",
                                 api_key="sk-never-in-a-trace")
    expected = {"component_type": "OpenAiCompatibleConfig", "id": llm.id, "name": "model"}
    assert component_ref(llm) == expected
    assert to_jsonable({"llm": llm}) == {"llm": expected}


# --- Scrubber -----------------------------------------------------------------------


def test_secrets_shorter_than_four_characters_are_not_scrubbed() -> None:
    scrub = Scrubber(["abc", "", 1234])  # type: ignore[list-item]
    assert not scrub
    assert scrub("abc 1234") == "abc 1234"
    scrub.add(["abcd"])
    assert scrub and scrub("abc abcd") == f"abc {REDACTED}"


def test_added_secrets_join_the_earlier_ones() -> None:
    scrub = Scrubber(["first-secret"])
    scrub.add(["second-secret"])
    assert scrub("first-secret second-secret") == f"{REDACTED} {REDACTED}"
    assert scrub.secrets == {"first-secret", "second-secret"}


def test_a_secret_that_extends_another_is_scrubbed_whole() -> None:
    # Longest first: otherwise "sk-abcd" would match and leave "-rest" of the longer one.
    for secrets in (["sk-abcd", "sk-abcd-rest"], ["sk-abcd-rest", "sk-abcd"]):
        assert Scrubber(secrets)("key=sk-abcd-rest, short=sk-abcd") == (
            f"key={REDACTED}, short={REDACTED}")


def test_secrets_are_scrubbed_in_keys_values_and_lists_at_any_depth() -> None:
    scrub = Scrubber(["s3cret"])
    value = {"s3cret-key": ["a s3cret", {"x": ["s3cret"]}, 3, None]}
    assert scrub(value) == {f"{REDACTED}-key": [f"a {REDACTED}", {"x": [REDACTED]}, 3, None]}
    assert Scrubber()(value) is value  # no secret: nothing to copy


# --- where secrets come from ---------------------------------------------------------


def test_secrets_of_reach_nested_header_values() -> None:
    tool = RemoteTool(name="api", url="http://localhost:1/x", http_method="GET",
                      sensitive_headers={"Authorization": "Bearer tok-1234",
                                         "X-Keys": ["key-one-1", {"inner": "key-two-2"}],
                                         "X-Empty": ""})
    node = ToolNode(name="call", tool=tool)  # the tool is found inside the node
    assert secrets_of(node) == {"Bearer tok-1234", "key-one-1", "key-two-2"}
    assert secrets_of(ToolNode(name="plain", tool=ServerTool(name="t"))) == set()
    assert secrets_of(None) == set()


def test_environment_secrets_read_the_mapping_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-os-environ")
    monkeypatch.setenv("LOOM_LLM_API_KEY", "sk-loom-os-environ")
    given = {"OPENAI_API_KEY": "sk-given-openai", "LOOM_LLM_API_KEY": "", "OTHER": "x" * 8}
    assert environment_secrets(given) == {"sk-given-openai"}
    assert environment_secrets() == {"sk-from-os-environ", "sk-loom-os-environ"}
