"""Published ``agentspec_version`` strings and how they compare.

The list is pyagentspec 26.3.1's. 25.3.0 and 25.3.1 are legacy strings that no
component accepts (every type needs 25.4.1 or later), so documents declaring
them are read but trip the version gate; 26.2.0 was never published.
"""

from __future__ import annotations

import functools

KNOWN_VERSIONS: tuple[str, ...] = (
    "25.3.0", "25.3.1", "25.4.1", "25.4.2", "26.1.0", "26.1.2", "26.3.1",
)
CURRENT_VERSION = "26.3.1"
FIRST_VERSION = "25.4.1"
# Accepted on load and read as another version (pre-releases, legacy strings).
VERSION_ALIASES: dict[str, str] = {"25.4.0": "25.4.1"}
# Read (with a warning) but never written: versions loom once wrote that were never published.
UNPUBLISHED_VERSIONS: tuple[str, ...] = ("26.2.0",)


@functools.cache
def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# What a document may be written at: the published versions some component accepts.
WRITABLE_VERSIONS: tuple[str, ...] = tuple(
    v for v in KNOWN_VERSIONS if version_key(v) >= version_key(FIRST_VERSION)
)


def is_known(version: str) -> bool:
    return version in KNOWN_VERSIONS or version in VERSION_ALIASES or (
        version in UNPUBLISHED_VERSIONS
    )


def later(a: str, b: str) -> str:
    return a if version_key(a) >= version_key(b) else b
