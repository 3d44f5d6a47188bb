"""Published ``agentspec_version`` strings and how they compare."""

from __future__ import annotations

import functools

KNOWN_VERSIONS: tuple[str, ...] = ("25.4.1", "25.4.2", "26.1.0", "26.1.2", "26.2.0")
CURRENT_VERSION = "26.2.0"
FIRST_VERSION = "25.4.1"
# Accepted on load and read as another version (pre-releases, legacy strings).
VERSION_ALIASES: dict[str, str] = {"25.4.0": "25.4.1"}


@functools.cache
def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def is_known(version: str) -> bool:
    return version in KNOWN_VERSIONS or version in VERSION_ALIASES


def later(a: str, b: str) -> str:
    return a if version_key(a) >= version_key(b) else b
