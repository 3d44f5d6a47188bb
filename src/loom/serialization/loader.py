"""Turning a parsed document into components.

References are global to a document: every ``$referenced_components`` block is
gathered into one table first (a key defined twice is an error), then
components are built on demand, each reference resolving to the same object.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import pydantic

from loom.errors import ComponentRef, LoadError, LoomError, LoomWarning
from loom.serialization.fields import COMPONENT, STRUCTURAL_KEYS, field_kinds
from loom.spec.component import COMPONENT_TYPES, Component

REF = "$component_ref"
REFS = "$referenced_components"
PLUGIN_HINT = (
    "if it is a plugin component, import the Python module that defines it (a subclass of a "
    "loom component class registers its component_type) before loading"
)


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{key!r}]"


class _Definition:
    __slots__ = ("value", "path")

    def __init__(self, value: Any, path: str) -> None:
        self.value = value
        self.path = path


class DocumentLoader:
    """Builds the components of one document, given an optional registry."""

    def __init__(self, registry: Mapping[str, Any] | None = None, strict: bool = False) -> None:
        self.registry = dict(registry or {})
        self.strict = strict
        self.definitions: dict[str, _Definition] = {}
        self.built: dict[str, Any] = {}
        self.in_progress: list[str] = []
        self.misplaced_versions: list[str] = []

    # -- pass 1: references -------------------------------------------------

    def collect(self, data: Any, path: str = "$") -> None:
        """Gather every ``$referenced_components`` entry and check references."""
        missing: dict[str, str] = {}
        self._collect(data, path)
        self._find_missing(data, path, missing)
        if missing:
            listed = ", ".join(f"'{key}' (used at {where})" for key, where in missing.items())
            raise LoadError(
                f"{len(missing)} reference(s) point at nothing: {listed}",
                hint="define them in $referenced_components or supply them at load time "
                "(loom.load(..., registry=...) or `--registry FILE`)",
            )

    def _collect(self, data: Any, path: str) -> None:
        if isinstance(data, dict):
            block = data.get(REFS)
            if block is not None:
                if not isinstance(block, dict):
                    raise LoadError(f"{REFS} must be an object mapping ids to components",
                                    path=path)
                for key, value in block.items():
                    where = _key_path(_key_path(path, REFS), str(key))
                    if key in self.definitions:
                        raise LoadError(
                            f"id '{key}' is defined twice in $referenced_components "
                            f"(at {self.definitions[key].path} and at {where})",
                            hint="keep one definition and reference it from both places",
                        )
                    self.definitions[key] = _Definition(value, where)
            for key, value in data.items():
                if key != "metadata":
                    self._collect(value, _key_path(path, key) if key != REFS else
                                  _key_path(path, REFS))
        elif isinstance(data, list):
            for index, value in enumerate(data):
                self._collect(value, f"{path}[{index}]")

    def _find_missing(self, data: Any, path: str, missing: dict[str, str]) -> None:
        if isinstance(data, dict):
            if set(data) == {REF}:
                key = data[REF]
                if key not in self.definitions and key not in self.registry:
                    missing.setdefault(str(key), path)
                return
            for key, value in data.items():
                if key != "metadata":
                    self._find_missing(value, _key_path(path, key), missing)
        elif isinstance(data, list):
            for index, value in enumerate(data):
                self._find_missing(value, f"{path}[{index}]", missing)

    # -- pass 2: building -----------------------------------------------------

    def resolve(self, key: str, path: str) -> Any:
        """The object a reference names: registry first, then the document."""
        if key in self.registry:
            return self.registry[key]
        if key in self.built:
            return self.built[key]
        if key in self.in_progress:
            cycle = " -> ".join([*self.in_progress[self.in_progress.index(key):], key])
            raise LoadError(
                f"circular reference: {cycle}",
                path=path,
                hint="a component cannot contain itself (e.g. a flow running itself "
                "through a FlowNode)",
            )
        definition = self.definitions[key]
        self.in_progress.append(key)
        try:
            value = self.build_value(definition.value, definition.path, component=True)
        finally:
            self.in_progress.pop()
        self.built[key] = value
        return value

    def build_value(self, data: Any, path: str, component: bool) -> Any:
        """Build a field value: components where ``component``, plain data elsewhere."""
        if isinstance(data, dict):
            if set(data) == {REF}:
                return self.resolve(data[REF], path)
            if component and ("component_type" in data or REF in data):
                return self.build_component(data, path)
            if component and ("id" in data or "name" in data):
                raise LoadError(
                    "this object has no 'component_type'",
                    path=path,
                    hint="every component must say its component_type (and have a name)",
                )
            return {key: self.build_value(value, _key_path(path, str(key)), component)
                    for key, value in data.items()}
        if isinstance(data, list):
            return [self.build_value(v, f"{path}[{i}]", component) for i, v in enumerate(data)]
        return data

    def build_component(self, data: dict[str, Any], path: str) -> Component:
        kind = data.get("component_type")
        cls = COMPONENT_TYPES.get(kind) if isinstance(kind, str) else None
        ref = ComponentRef(str(kind), data.get("name"), data.get("id"))
        if cls is None:
            raise LoadError(
                f"unknown component_type '{kind}'",
                component=ref,
                path=path,
                hint=PLUGIN_HINT,
            )
        if "agentspec_version" in data and path != "$" and not path.startswith("$registry"):
            self._misplaced_version(ref, path)
        kinds = field_kinds(cls)
        implied: frozenset[str] = getattr(cls, "implied_fields", frozenset())
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key in STRUCTURAL_KEYS:
                continue
            where = _key_path(path, key)
            if key in kinds:
                values[key] = self.build_value(raw, where, kinds[key] == COMPONENT)
            elif key not in implied:
                warnings.warn(f"{ref}: unknown field '{key}' ignored [at {where}]",
                              LoomWarning, stacklevel=4)
        try:
            return cls(**values)
        except LoomError as exc:
            if exc.component is None:
                exc.component = ref
            raise exc.located(path) from None
        except pydantic.ValidationError as exc:
            raise LoadError(
                _describe_validation(exc),
                component=ref,
                path=path,
                hint="fix the field(s) named above",
            ) from None

    def _misplaced_version(self, ref: ComponentRef, path: str) -> None:
        message = (
            f"{ref}: 'agentspec_version' is only allowed at the top of a document, "
            f"found at {path}"
        )
        if self.strict:
            raise LoadError(message, hint="remove the nested agentspec_version")
        self.misplaced_versions.append(path)
        warnings.warn(message + " (ignored)", LoomWarning, stacklevel=5)


def _describe_validation(exc: pydantic.ValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "value"
        if error["type"] == "missing":
            problems.append(f"field '{where}' is required")
        elif error["type"] == "extra_forbidden":
            problems.append(f"field '{where}' is not allowed")
        else:
            problems.append(f"field '{where}': {error['msg']}")
    return "; ".join(problems)
