"""The secrets a saved run's flow document leaves out, and where resume finds them.

A checkpoint never holds a secret: its flow document has ``{"$component_ref":
"<id>.<field>"}`` in each sensitive field. Resuming needs the values again, given
as at run time: a registry entry of that name, ``LOOM_LLM_API_KEY`` (or
``Runtime(llm={"api_key": ...})``) for an LLM's ``api_key``, since it replaces
every LLM's key anyway, or, in the process that started the run, what it kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loom.errors import CheckpointError, ComponentRef
from loom.serialization.writer import REF
from loom.spec.component import COMPONENT_TYPES
from loom.spec.llms import LlmConfig


@dataclass(frozen=True)
class Masked:
    """One sensitive field written as a reference to ``ref``."""

    ref: str
    field: str
    component: ComponentRef
    llm: bool  # an LLM config's api_key: the runtime's key override stands for it


def masked_fields(document: Any) -> list[Masked]:
    """Every sensitive field of a flow document written without its value."""
    found: list[Masked] = []
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            kind, ident = item.get("component_type"), item.get("id")
            for field, value in item.items():
                if (isinstance(kind, str) and isinstance(ident, str) and isinstance(value, dict)
                        and len(value) == 1 and value.get(REF) == f"{ident}.{field}"):
                    cls = COMPONENT_TYPES.get(kind)
                    llm = field == "api_key" and cls is not None and issubclass(cls, LlmConfig)
                    name = item.get("name")
                    found.append(Masked(value[REF], field, ComponentRef(
                        kind, name if isinstance(name, str) else None, ident), llm))
                else:
                    stack.append(value)
    return found


def resume_registry(
    run_id: str,
    document: Any,
    registry: Mapping[str, Any],
    kept: Mapping[str, Any] | None,
    llm_key: str | None,
) -> Mapping[str, Any]:
    """``registry`` plus the secrets ``document`` lacks; refused, naming each field and
    how to give it, when one cannot be found."""
    missing = [item for item in masked_fields(document) if item.ref not in registry]
    if not missing:
        return registry
    found: dict[str, Any] = {}
    for item in missing:
        if kept is not None and item.ref in kept:
            found[item.ref] = kept[item.ref]
        elif item.llm and llm_key:
            found[item.ref] = llm_key
    lacking = [item for item in missing if item.ref not in found]
    if lacking:
        fields = "; ".join(f"{item.field} of {item.component}" for item in lacking)
        names = ", ".join(repr(item.ref) for item in lacking)
        llm = any(item.llm for item in lacking)
        raise CheckpointError(
            f"run '{run_id}' needs secret(s) its checkpoint does not keep: {fields}",
            hint=f"give them as at run time: registry entries {names} "
            "(Runtime(registry=...), or `loom resume --registry FILE` with them under "
            "$referenced_components)" + (
                "; an LLM's api_key may also come from LOOM_LLM_API_KEY" if llm else ""),
        )
    return {**found, **registry}
