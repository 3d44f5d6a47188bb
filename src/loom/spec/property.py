"""Properties: the named, typed values that components take and produce.

A serialized property *is* a JSON Schema whose ``title`` is the property name.
``Property`` wraps that schema; the typed helpers (``StringProperty``,
``ListProperty``...) only build the schema for you, as in pyagentspec.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from loom.errors import SpecError

_BAD_TITLE = re.compile(r"[.,{}\s'\"]")


class _Empty:
    """Marks 'no default' (``None`` is a real default)."""

    def __repr__(self) -> str:
        return "EMPTY"


EMPTY: Any = _Empty()


class Property(BaseModel):
    """One named input or output, described by a JSON Schema."""

    model_config = ConfigDict(frozen=False, arbitrary_types_allowed=True)

    json_schema: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _wrap_bare_schema(cls, data: Any) -> Any:
        # A schema read from a file arrives as the bare dict.
        if isinstance(data, dict) and set(data) != {"json_schema"}:
            return {"json_schema": data}
        return data

    @model_validator(mode="after")
    def _check_schema(self) -> Property:
        schema = self.json_schema
        if "title" not in schema:
            schema["title"] = "property"
        title = schema["title"]
        if not isinstance(title, str) or not title:
            raise SpecError("a property title must be a non-empty string", hint=f"got {title!r}")
        check_titles(schema)
        return self

    @property
    def title(self) -> str:
        return str(self.json_schema["title"])

    @property
    def type(self) -> Any:
        return self.json_schema.get("type")

    @property
    def description(self) -> str | None:
        return self.json_schema.get("description")

    @property
    def has_default(self) -> bool:
        return "default" in self.json_schema

    @property
    def default(self) -> Any:
        return self.json_schema.get("default", EMPTY)

    def with_title(self, title: str) -> Property:
        schema = copy.deepcopy(self.json_schema)
        schema["title"] = title
        return Property(json_schema=schema)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.json_schema)

    def __eq__(self, other: object) -> bool:
        # The schema is the property: a StringProperty equals the Property read from
        # a file with the same schema.
        if isinstance(other, Property):
            return self.json_schema == other.json_schema
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Property({self.json_schema!r})"


def check_titles(schema: dict[str, Any], where: str = "", at: str = "") -> None:
    """Refuse titles that cannot be used as names (dots, braces, spaces, quotes), and
    malformed schemas (the type rules read them)."""
    title = schema.get("title")
    if isinstance(title, str) and _BAD_TITLE.search(title):
        raise SpecError(
            f"property title {title!r}{where} contains a forbidden character",
            hint="titles may not contain '.', ',', '{', '}', spaces, newlines or quotes",
        )
    at = at or f"property {title!r}{where}"
    kind, many, props = schema.get("type"), schema.get("anyOf") or [], schema.get("properties")
    subs: list[tuple[str, Any]] = [(k, schema[k]) for k in ("items", "additionalProperties")
            if k in schema and not (k[0] == "a" and isinstance(schema[k], bool))]
    if isinstance(many, list) and isinstance(props or {}, dict):
        subs += [(f"anyOf[{i}]", v) for i, v in enumerate(many)]
        subs += [(f"properties[{k!r}]", v) for k, v in (props or {}).items()]
    bad = next((k for k, v in subs if not isinstance(v, dict)), None)
    problem = (
        "'anyOf' must be a list" if not isinstance(many, list)
        else "'properties' must be an object" if not isinstance(props or {}, dict)
        else f"'{bad}' must be a schema (an object)" if bad
        else "a component cannot sit in it" if {"$component_ref", "component_type"} & set(schema)
        else None if kind is None or all(
            isinstance(t, str) and t in _TYPES for t in (kind if isinstance(kind, list) else [kind]))
        else f"'type' must name JSON types, not {kind!r}"
    )
    if problem:
        raise SpecError(f"{at}: malformed JSON Schema: {problem}")
    for key, sub in subs:
        check_titles(sub, where, f"{at} > {key}")


_TYPES = {"string", "number", "integer", "boolean", "null", "array", "object"}


def _schema(title: str, base: dict[str, Any], description: str | None, default: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": title, **base}
    if description is not None:
        schema["description"] = description
    if default is not EMPTY:
        schema["default"] = default
    return schema


def _sub(prop: Property | dict[str, Any]) -> dict[str, Any]:
    return prop.to_dict() if isinstance(prop, Property) else dict(prop)


class StringProperty(Property):
    def __init__(self, title: str, description: str | None = None, default: Any = EMPTY):
        super().__init__(json_schema=_schema(title, {"type": "string"}, description, default))


class IntegerProperty(Property):
    def __init__(self, title: str, description: str | None = None, default: Any = EMPTY):
        super().__init__(json_schema=_schema(title, {"type": "integer"}, description, default))


class NumberProperty(Property):
    def __init__(self, title: str, description: str | None = None, default: Any = EMPTY):
        super().__init__(json_schema=_schema(title, {"type": "number"}, description, default))


FloatProperty = NumberProperty


class BooleanProperty(Property):
    def __init__(self, title: str, description: str | None = None, default: Any = EMPTY):
        super().__init__(json_schema=_schema(title, {"type": "boolean"}, description, default))


class NullProperty(Property):
    def __init__(self, title: str, description: str | None = None, default: Any = EMPTY):
        super().__init__(json_schema=_schema(title, {"type": "null"}, description, default))


class ListProperty(Property):
    def __init__(
        self,
        title: str,
        item_type: Property | dict[str, Any] | None = None,
        description: str | None = None,
        default: Any = EMPTY,
    ):
        base: dict[str, Any] = {"type": "array"}
        if item_type is not None:
            base["items"] = _sub(item_type)
        super().__init__(json_schema=_schema(title, base, description, default))


class DictProperty(Property):
    def __init__(
        self,
        title: str,
        value_type: Property | dict[str, Any] | None = None,
        description: str | None = None,
        default: Any = EMPTY,
    ):
        extra = _sub(value_type) if value_type is not None else {}
        base = {"type": "object", "properties": {}, "additionalProperties": extra}
        super().__init__(json_schema=_schema(title, base, description, default))


class ObjectProperty(Property):
    def __init__(
        self,
        title: str,
        properties: dict[str, Property | dict[str, Any]] | None = None,
        description: str | None = None,
        default: Any = EMPTY,
        required: list[str] | None = None,
    ):
        props = {name: _sub(p) for name, p in (properties or {}).items()}
        base: dict[str, Any] = {"type": "object", "properties": props}
        if required is not None:
            base["required"] = required
        super().__init__(json_schema=_schema(title, base, description, default))


class UnionProperty(Property):
    def __init__(
        self,
        title: str,
        any_of: list[Property | dict[str, Any]],
        description: str | None = None,
        default: Any = EMPTY,
    ):
        base = {"anyOf": [_sub(p) for p in any_of]}
        super().__init__(json_schema=_schema(title, base, description, default))


class AnyProperty(Property):
    """A property that accepts any value (no ``type``)."""

    def __init__(self, title: str, description: str | None = None, default: Any = EMPTY):
        super().__init__(json_schema=_schema(title, {}, description, default))


def titles(props: list[Property] | None) -> list[str]:
    return [p.title for p in props or []]


def by_title(props: list[Property] | None) -> dict[str, Property]:
    return {p.title: p for p in props or []}
