"""Checks the core runs on values from users: loom's own settings in a component's
``metadata: {"loom": {...}}`` (when the component is built, so ``loom validate``
refuses what ``loom run`` could not use) and tool results (JSON data only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loom.errors import ComponentRef, SpecError

SETTINGS: dict[str, type] = {"max_concurrency": int, "max_iterations": int, "branch_timeout": float}


def check_settings(metadata: Mapping[str, Any] | None, component: ComponentRef) -> None:
    """Each setting present is a positive whole number (``int``) or a positive finite
    number (``float``); anything else is a SpecError naming the component."""
    section = (metadata or {}).get("loom") if isinstance(metadata, Mapping) else None
    if not isinstance(section, Mapping):
        return
    for key, kind in SETTINGS.items():
        value = section.get(key)
        if value is None:
            continue
        allowed = (int,) if kind is int else (int, float)
        if type(value) not in allowed or not 0 < value < 1e15:
            what = "a positive whole number" if kind is int else "a positive number of seconds"
            raise SpecError(f"loom.{key} must be {what}, got {value!r}",
                            component=component, path="metadata")


def not_json(value: Any) -> str | None:
    """The type of the first part of ``value`` that JSON cannot hold, if any."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return None
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return "dict with non-string keys"
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return type(value).__name__
    return next(filter(None, map(not_json, value)), None)
