"""load / loads / dump / dumps: the public face of the format."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from loom.errors import LoadError
from loom.serialization.loader import REF, REFS, REGISTRY_ROOT, DocumentLoader
from loom.serialization.policy import DEFAULT_POLICY, ComponentPolicy, PolicyInput, load_policy
from loom.serialization.reader import detect_format, parse_text, read_file
from loom.serialization.versions import (
    check_version_gate,
    declared_version,
    reject_registry_document,
    remember_versions,
)
from loom.serialization.writer import DocumentWriter
from loom.spec.component import Component
from loom.spec.flows.checks import LENIENT_TYPES
from loom.spec.walk import walk

Registry = Mapping[str, Any]


def _check_document(document: Any, source: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise LoadError(
            f"{source} must hold one object (a component), not {type(document).__name__}",
            hint="an Agent Spec document starts with component_type, or $component_ref",
        )
    return document


def load_document(
    document: Any,
    *,
    registry: Registry | None = None,
    strict: bool = False,
    source: str = "<document>",
    policy: ComponentPolicy = DEFAULT_POLICY,
) -> Component:
    """Build the component a parsed document describes."""
    token = LENIENT_TYPES.set(not strict)
    try:
        return _load_document(document, registry, strict, source, policy)
    except RecursionError:
        raise LoadError(f"{source} cannot be read: it is nested too deeply") from None
    finally:
        LENIENT_TYPES.reset(token)


def _load_document(
    document: Any, registry: Registry | None, strict: bool, source: str,
    policy: ComponentPolicy,
) -> Component:
    data = _check_document(document, source)
    loader = DocumentLoader(registry, strict=strict, source=source, policy=policy)
    loader.collect(data)  # format, component types and references, before anything else
    reject_registry_document(data, source)
    version = declared_version(data, source)
    root: Component
    if "component_type" in data:
        # Registered by collect (detects self-reference) unless a definition has its id.
        if getattr(loader.definitions.get(str(data.get("id"))), "value", None) is data:
            root = loader.resolve(data["id"], "$")
        else:
            root = loader.build_component(data, "$")
    elif REF in data:
        root = loader.resolve(data[REF], "$")
        if not isinstance(root, Component):
            raise LoadError(f"{source}: the root reference '{data[REF]}' is not a component")
    else:
        raise LoadError(
            f"{source} has no component_type at its top level",
            hint="a document is a component (component_type, id, name...) or "
            "{$component_ref, $referenced_components}",
        )
    check_version_gate(root, version, source, strict)
    remember_versions(loader.by_id.values(), version)
    return root


def loads(
    text: str,
    *,
    format: str | None = None,
    registry: Registry | None = None,
    strict: bool = False,
    source: str | None = None,
    allowed_components: PolicyInput = None,
    blocked_components: PolicyInput = None,
) -> Component:
    """Load a component from JSON or YAML text. ``allowed_components`` and
    ``blocked_components`` (type names or classes) say which types it may hold
    (see :mod:`loom.serialization.policy`; StdioTransport is blocked by default)."""
    policy = load_policy(allowed_components, blocked_components)
    fmt = format or detect_format(source, text)
    document = parse_text(text, fmt, source)
    return load_document(
        document, registry=registry, strict=strict, source=source or "<text>", policy=policy
    )


def load(
    path: str | Path,
    *,
    registry: Registry | None = None,
    strict: bool = False,
    allowed_components: PolicyInput = None,
    blocked_components: PolicyInput = None,
) -> Component:
    """Load a component from a ``.json``, ``.yaml`` or ``.yml`` file (the policy
    arguments as for :func:`loads`)."""
    policy = load_policy(allowed_components, blocked_components)
    text, fmt = read_file(path)
    document = parse_text(text, fmt, str(path))
    return load_document(
        document, registry=registry, strict=strict, source=str(path), policy=policy
    )


def load_registry_document(
    document: Any, *, registry: Registry | None = None, strict: bool = False,
    source: str = "<registry>", policy: ComponentPolicy = DEFAULT_POLICY,
) -> dict[str, Any]:
    """Read a disaggregated document (only ``$referenced_components``) into a registry."""
    data = _check_document(document, source)
    if set(data) != {REFS} or not isinstance(data[REFS], dict):
        raise LoadError(
            f"{source} is not a disaggregated components document",
            hint="a registry file holds a single key, $referenced_components",
        )
    loader = DocumentLoader(registry, strict=strict, source=source, policy=policy)
    loader.collect(data)
    result: dict[str, Any] = dict(registry or {})
    for key, entry in data[REFS].items():
        if isinstance(entry, dict) and "component_type" in entry:
            loader.top_level.add(id(entry))  # each entry is a document of its own
            version = declared_version(entry, f"{source} entry '{key}'")
            component = loader.resolve(key, (REGISTRY_ROOT, key))
            check_version_gate(component, version, f"{source} entry '{key}'", strict)
            remember_versions(walk(component), version)
            result[key] = component
        else:
            result[key] = loader.build_value(entry, (REGISTRY_ROOT, key), component=False)
    return result


def load_registry(
    path: str | Path,
    *,
    registry: Registry | None = None,
    strict: bool = False,
    allowed_components: PolicyInput = None,
    blocked_components: PolicyInput = None,
) -> dict[str, Any]:
    """Read a disaggregated components file into a registry for :func:`load`."""
    policy = load_policy(allowed_components, blocked_components)
    text, fmt = read_file(path)
    document = parse_text(text, fmt, str(path))
    return load_registry_document(
        document, registry=registry, strict=strict, source=str(path), policy=policy
    )


def to_dict(
    component: Component,
    *,
    agentspec_version: str | None = None,
    include_sensitive: bool = False,
) -> dict[str, Any]:
    """The document of ``component`` as plain data."""
    return DocumentWriter(component, agentspec_version, include_sensitive).document()


def dumps(
    component: Component,
    format: str = "json",
    *,
    agentspec_version: str | None = None,
    include_sensitive: bool = False,
    indent: int = 2,
) -> str:
    """Write ``component`` as JSON or YAML text, in the shape pyagentspec writes."""
    data = to_dict(
        component, agentspec_version=agentspec_version, include_sensitive=include_sensitive
    )
    if format == "json":
        return json.dumps(data, indent=indent, ensure_ascii=False)
    if format == "yaml":
        # libyaml's dumper when present (the pure-Python one takes 15 s on a 10 MB string);
        # it cannot write a lone surrogate, which JSON's \udcxx escapes can load.
        with contextlib.suppress(UnicodeEncodeError):
            dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    raise ValueError(f"unknown format {format!r}: use 'json' or 'yaml'")


def dump(
    component: Component,
    path: str | Path,
    *,
    format: str | None = None,
    agentspec_version: str | None = None,
    include_sensitive: bool = False,
) -> None:
    """Write ``component`` to a file; the format follows the suffix unless given."""
    fmt = format or ("yaml" if Path(path).suffix.lower() in (".yaml", ".yml") else "json")
    text = dumps(
        component, fmt, agentspec_version=agentspec_version, include_sensitive=include_sensitive
    )
    Path(path).write_text(text, encoding="utf-8")
