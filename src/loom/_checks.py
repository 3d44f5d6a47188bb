"""Checks the core runs on values from users: loom's own settings in a component's
``metadata: {"loom": {...}}`` (when the component is built, so ``loom validate``
refuses what ``loom run`` could not use) and tool results (JSON data only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loom.errors import ComponentRef, SpecError

WHOLE, NUMBER = (int,), (int, float)
SETTINGS: dict[str, tuple[tuple[type, ...], str]] = {
    "max_concurrency": (WHOLE, "a positive whole number"),
    "max_iterations": (WHOLE, "a positive whole number"),
    "branch_timeout": (NUMBER, "a positive number of seconds"),
    "deadline": (NUMBER, "a positive number"),
    "max_response_bytes": (NUMBER, "a positive number"),
    "max_stream_bytes": (NUMBER, "a positive number"),
}
CHECKED_AT_BUILD = tuple(SETTINGS)  # the answer limits too: `loom validate` reports them


def check_settings(
    metadata: Mapping[str, Any] | None, component: ComponentRef,
    keys: tuple[str, ...] = CHECKED_AT_BUILD,
) -> dict[str, Any]:
    """The ``keys`` set in ``metadata["loom"]``, each checked against SETTINGS (a
    positive value below 1e15 of the allowed types); else a SpecError naming the
    component."""
    section = metadata.get("loom") if isinstance(metadata, Mapping) else None
    if not isinstance(section, Mapping):
        return {}
    found = {key: section[key] for key in keys if section.get(key) is not None}
    for key, value in found.items():
        allowed, what = SETTINGS[key]
        if type(value) not in allowed or not 0 < value < 1e15:
            raise SpecError(f"loom.{key} must be {what}, got {value!r}",
                            component=component, path="metadata")
    return found


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
