"""Turning a parsed document into components.

A first walk over the raw data gathers every ``$referenced_components`` block
into one table (a key defined twice is an error), every reference and every
``component_type``, so that legacy documents, unknown types and dangling
references are refused before anything is built, all culprits named. Components
are then built on demand, a reference always resolving to the same object.
Locations are JSON paths (``$.nodes[2].tool``), kept as ``(parent, key)`` chains
until a message needs them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import pydantic

from loom.errors import ComponentRef, LoadError, LoomError, LoomWarning
from loom.serialization.fields import (
    COMPONENT,
    PLAIN,
    STRUCTURAL_KEYS,
    field_kinds,
    single_component_fields,
)
from loom.serialization.policy import DEFAULT_POLICY, ComponentPolicy
from loom.serialization.reader import LEGACY_HINT
from loom.spec.component import COMPONENT_TYPES, Component

REF = "$component_ref"
REFS = "$referenced_components"
ROOT = "$"
REGISTRY_ROOT = "$registry"
PLUGIN_HINT = (
    "if it is a plugin component, import the Python module that defines it (a subclass of a "
    "loom component class registers its component_type) before loading"
)
# Class names of the illustrative pre-release format of the Agent Spec docs.
LEGACY_TYPES = frozenset(
    {"LLMNode", "VLLMConfig", "APINode", "OciGenAiLLM", "ConditionalControlFlowEdge", "LLMConfig"}
)

# "$" (the root), "$registry", or (parent path, key or index).
JsonPath = str | tuple[Any, str | int]


def render_path(path: JsonPath) -> str:
    """``$.nodes[2]['$referenced_components']`` from a path chain."""
    keys: list[str | int] = []
    while isinstance(path, tuple):
        path, key = path
        keys.append(key)
    parts = [str(path)]
    for key in reversed(keys):
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif isinstance(key, str) and key.isidentifier():
            parts.append(f".{key}")
        else:
            parts.append(f"[{key!r}]")
    return "".join(parts)


def describe(data: Any) -> ComponentRef | None:
    """Type, name and id of a raw component object, for messages."""
    if isinstance(data, dict) and "component_type" in data:
        name, ident = data.get("name"), data.get("id")
        return ComponentRef(
            str(data["component_type"]),
            name if isinstance(name, str) else None,
            ident if isinstance(ident, str) else None,
        )
    return None


class _Definition:
    __slots__ = ("value", "path")

    def __init__(self, value: Any, path: JsonPath) -> None:
        self.value = value
        self.path = path


class DocumentLoader:
    """Builds the components of one document, given an optional registry."""

    def __init__(
        self,
        registry: Mapping[str, Any] | None = None,
        strict: bool = False,
        source: str = "<document>",
        policy: ComponentPolicy = DEFAULT_POLICY,
    ) -> None:
        self.registry = dict(registry or {})
        self.policy = policy
        self.strict = strict
        self.source = source
        self.definitions: dict[str, _Definition] = {}
        self.built: dict[str, Any] = {}
        # Components being built, outermost first; a reference being resolved
        # remembers where its component sits in this stack (for cycle messages).
        self.building: list[ComponentRef] = []
        self.in_progress: dict[str, int] = {}
        # Every component built, by id, and where it sits in the document.
        self.by_id: dict[str, Component] = {}
        self.paths: dict[str, JsonPath] = {}
        # Raw objects that sit at the top of a document (they may carry a version).
        self.top_level: set[int] = set()
        self.misplaced_versions: list[str] = []
        # Filled by the pre-scan.
        self._used: dict[str, JsonPath] = {}
        self._unknown: dict[str, tuple[ComponentRef, JsonPath]] = {}
        self._legacy: str | None = None

    # -- pass 1: one walk over the raw data ------------------------------------------------

    def collect(self, data: Any, path: JsonPath = ROOT) -> None:
        """Gather definitions, check references, types and the format, before building."""
        self._scan(data, path)
        if self._legacy is not None:
            raise LoadError(f"{self.source} is not loadable: {self._legacy}", hint=LEGACY_HINT)
        if self._unknown:
            (first_ref, first_path), *others = self._unknown.values()
            also = "".join(
                f"; also unknown: '{ref.component_type}' ({ref} at {render_path(where)})"
                for ref, where in others
            )
            raise LoadError(
                f"unknown component_type '{first_ref.component_type}'{also}",
                component=first_ref,
                path=render_path(first_path),
                hint=PLUGIN_HINT,
            )
        if isinstance(data, dict) and path == ROOT:
            self._register_root(data)
        missing = {
            key: where
            for key, where in self._used.items()
            if key not in self.definitions and key not in self.registry
        }
        if missing:
            listed = ", ".join(
                f"'{key}' (used at {render_path(where)})" for key, where in missing.items()
            )
            raise LoadError(
                f"{len(missing)} reference(s) point at nothing: {listed}",
                hint="define them in $referenced_components or supply them at load time "
                "(loom.load(..., registry=...) or `--registry FILE`)",
            )

    def _register_root(self, data: dict[str, Any]) -> None:
        # The root component answers to its id too, so that a component referring to
        # the document's root (a flow running itself) is reported as a cycle.
        self.top_level.add(id(data))
        ident = data.get("id")
        if (
            "component_type" in data
            and isinstance(ident, str)
            and ident not in self.definitions
            and ident not in self.registry
        ):
            self.definitions[ident] = _Definition(data, ROOT)

    def _scan(self, data: Any, path: JsonPath) -> None:
        if isinstance(data, dict):
            if REF in data:
                key = data[REF]
                if not isinstance(key, str):
                    raise LoadError(
                        f"{REF} must be a string id, not {type(key).__name__}",
                        path=render_path(path),
                    )
                self._used.setdefault(key, path)
                if len(data) == 1:
                    return
            kind = data.get("component_type")
            cls = COMPONENT_TYPES.get(kind) if isinstance(kind, str) else None
            if kind is not None:
                if not isinstance(kind, str):
                    raise LoadError("component_type must be a string", path=render_path(path))
                if cls is None:
                    if kind in LEGACY_TYPES:
                        self._legacy_at(f"legacy component_type '{kind}'", path)
                    ref = describe(data)
                    assert ref is not None
                    self._unknown.setdefault(str(kind), (ref, path))
                elif self.policy.refusal(cls) is not None:
                    self.policy.check(cls, describe(data), render_path(path))
            elif "$ref" in data:
                self._legacy_at("'$ref' key", path)
            else:
                legacy = data.get("type")
                if (
                    isinstance(legacy, str)
                    and legacy[:1].isupper()
                    and ("id" in data or "name" in data)
                ):
                    self._legacy_at(f"'type: {legacy}' instead of 'component_type'", path)
            block = data.get(REFS)
            if block is not None:
                self._define(block, (path, REFS))
            kinds = field_kinds(cls) if cls else {}
            for key, value in data.items():
                if key == "metadata" or kinds.get(key) == PLAIN:  # data: only a whole-field REF
                    value = value if _is_ref(value) else None
                if isinstance(value, (dict, list)):
                    self._scan(value, (path, key))
        elif isinstance(data, list):
            for index, value in enumerate(data):
                if isinstance(value, (dict, list)):
                    self._scan(value, (path, index))

    def _define(self, block: Any, path: JsonPath) -> None:
        if not isinstance(block, dict):
            raise LoadError(
                f"{REFS} must be an object mapping ids to components", path=render_path(path)
            )
        for key, value in block.items():
            where = (path, key)
            if key in self.definitions:
                previous = self.definitions[key]
                raise LoadError(
                    f"id '{key}' is defined twice in $referenced_components "
                    f"(at {render_path(previous.path)} and at {render_path(where)})",
                    component=describe(value),
                    path=render_path(where),
                    hint="keep one definition and reference it from both places",
                )
            self.definitions[key] = _Definition(value, where)

    def _legacy_at(self, what: str, path: JsonPath) -> None:
        if self._legacy is None:
            self._legacy = f"{what} at {render_path(path)}"

    # -- pass 2: building -----------------------------------------------------------------

    def resolve(self, key: str, path: JsonPath) -> Any:
        """The object a reference names: registry first, then the document."""
        if key in self.registry:
            return self.registry[key]
        if key in self.built:
            return self.built[key]
        if key in self.in_progress:
            raise self._cycle(key, path)
        definition = self.definitions[key]
        self.in_progress[key] = len(self.building)
        try:
            value = self.build_value(definition.value, definition.path, component=True)
        finally:
            del self.in_progress[key]
        self.built[key] = value
        return value

    def _cycle(self, key: str, path: JsonPath) -> LoadError:
        start = self.in_progress[key]
        chain = [str(ref) for ref in self.building[start:]]
        target = describe(self.definitions[key].value)
        if not chain:  # a plain value that refers back to itself
            chain = [f"'{k}'" for k in self.in_progress if self.in_progress[k] >= start]
        chain.append(str(target) if target else f"'{key}'")
        return LoadError(
            f"circular reference: {' contains '.join(chain)}",
            component=target,
            path=render_path(path),
            hint="a component cannot contain itself (e.g. a flow running itself "
            "through a FlowNode)",
        )

    def build_value(self, data: Any, path: JsonPath, component: bool) -> Any:
        """Build a field value: components where ``component``, plain data elsewhere."""
        if isinstance(data, dict):
            if component and REF in data:
                if len(data) == 1:
                    return self.resolve(data[REF], path)
                if "component_type" not in data:
                    extra = sorted(k for k in data if k != REF)
                    raise LoadError(
                        f"a reference object holds only {REF}, this one also has {extra}",
                        path=render_path(path),
                        hint="move the other keys into the referenced component",
                    )
            if component and "component_type" in data:
                return self.build_component(data, path)
            if component and ("id" in data or "name" in data):
                raise LoadError(
                    "this object has no 'component_type'",
                    path=render_path(path),
                    hint="every component must say its component_type (and have a name)",
                )
            return {
                key: self.build_value(value, (path, key), component)
                if isinstance(value, (dict, list))
                else value
                for key, value in data.items()
            }
        if isinstance(data, list):
            return [
                self.build_value(value, (path, index), component)
                if isinstance(value, (dict, list))
                else value
                for index, value in enumerate(data)
            ]
        return data

    def build_component(self, data: dict[str, Any], path: JsonPath) -> Component:
        kind = data.get("component_type")
        cls = COMPONENT_TYPES.get(kind) if isinstance(kind, str) else None
        ref = describe(data) or ComponentRef(str(kind))
        if cls is None:  # only reached when the pre-scan was skipped
            raise LoadError(
                f"unknown component_type '{kind}'",
                component=ref,
                path=render_path(path),
                hint=PLUGIN_HINT,
            )
        if "agentspec_version" in data and id(data) not in self.top_level:
            self._misplaced_version(ref, path, data["agentspec_version"])
        kinds = field_kinds(cls)
        single = single_component_fields(cls)
        implied: frozenset[str] = getattr(cls, "implied_fields", frozenset())
        values: dict[str, Any] = {}
        self.building.append(ref)
        try:
            for key, raw in data.items():
                if key in STRUCTURAL_KEYS:
                    continue
                kind_of_field = kinds.get(key)
                if kind_of_field is None:
                    if key not in implied:
                        warnings.warn(
                            f"{ref}: unknown field '{key}' ignored [at {render_path((path, key))}]",
                            LoomWarning,
                            stacklevel=4,
                        )
                    continue
                if key in single and isinstance(raw, dict) and not (
                    REF in raw or "component_type" in raw
                ):
                    raise LoadError(
                        f"field '{key}' must hold a component (an object with component_type "
                        f"and name) or a {REF}, but it holds an object without component_type "
                        f"(keys {sorted(raw)})",
                        component=ref,
                        path=render_path((path, key)),
                        hint=f"add the component_type (and a name) of the {key} component",
                    )
                if kind_of_field == PLAIN and _is_ref(raw):  # a value given apart (a secret)
                    values[key] = self.resolve(raw[REF], (path, key))
                elif isinstance(raw, (dict, list)):
                    values[key] = self.build_value(raw, (path, key), kind_of_field == COMPONENT)
                else:
                    values[key] = raw
        finally:
            self.building.pop()
        try:
            component = cls(**values)
        except LoomError as exc:
            if exc.component is None:
                exc.component = ref
            # The error may be about a component built earlier (an edge of this flow):
            # point at that component rather than at this one.
            where = self.paths.get(exc.component.id or "") if exc.component is not ref else None
            raise exc.located(render_path(where if where is not None else path)) from None
        except pydantic.ValidationError as exc:
            raise LoadError(
                _describe_validation(exc),
                component=ref,
                path=render_path(path),
                hint="fix the field(s) named above",
            ) from None
        self._register(component, path, data)
        return component

    def _register(self, component: Component, path: JsonPath, data: Any) -> None:
        other: Any = self.by_id.get(component.id)
        where = self.paths.get(component.id, ROOT)
        defined = self.definitions.get(component.id)
        if other is None and defined and defined.value is not data:  # defined, not built
            other, where = describe(defined.value), defined.path
        if other is not None and other is not component:
            raise LoadError(
                f"id '{component.id}' is used by two components: {getattr(other, 'ref', other)}"
                f" at {render_path(where)} and {component.ref}",
                component=component.ref,
                path=render_path(path),
                hint="ids must be unique in a document: write the component once and refer "
                f"to it with {{\"{REF}\": \"{component.id}\"}}, or give one of them another id",
            )
        self.by_id[component.id] = component
        self.paths[component.id] = path

    def _misplaced_version(self, ref: ComponentRef, path: JsonPath, version: Any) -> None:
        where = render_path(path)
        message = (
            f"{ref}: 'agentspec_version' ({version}) is only allowed at the top of a document, "
            f"found at {where}"
        )
        if self.strict:
            raise LoadError(message, hint="remove the nested agentspec_version")
        self.misplaced_versions.append(where)
        warnings.warn(message + " (ignored)", LoomWarning, stacklevel=5)


def _is_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and REF in value


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
