"""Which language version a document declares, and which one its features need."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from loom._cache import IdentityCache
from loom.errors import LoadError, VersionError, VersionWarning
from loom.spec.component import Component
from loom.spec.versions import (
    CURRENT_VERSION,
    FIRST_VERSION,
    KNOWN_VERSIONS,
    UNPUBLISHED_VERSIONS,
    VERSION_ALIASES,
    WRITABLE_VERSIONS,
    later,
    version_key,
)
from loom.spec.walk import walk

# The version each loaded component was declared at: as in pyagentspec, writing a
# loaded component keeps that version unless its features need a newer one.
LOADED_VERSIONS: IdentityCache[Component, str] = IdentityCache()


def declared_version(document: dict[str, Any], source: str) -> str:
    """The document's version, upgraded when it is an alias; unknown ones refused."""
    raw = document.get("agentspec_version", document.get("air_version"))
    if raw is None:
        warnings.warn(
            f"{source} declares no agentspec_version; reading it as {CURRENT_VERSION}",
            VersionWarning,
            stacklevel=4,
        )
        return CURRENT_VERSION
    version = str(raw)
    if version in VERSION_ALIASES:
        upgraded = VERSION_ALIASES[version]
        warnings.warn(
            f"{source}: agentspec_version {version} is a pre-release; read as {upgraded}",
            VersionWarning,
            stacklevel=4,
        )
        return upgraded
    if version in UNPUBLISHED_VERSIONS:
        warnings.warn(
            f"{source}: agentspec_version {version} was never published (other tools refuse "
            "it); reading it anyway, and writing it back at a published version",
            VersionWarning,
            stacklevel=4,
        )
        return version
    if version not in KNOWN_VERSIONS:
        raise VersionError(
            f"{source}: unsupported agentspec_version '{version}'",
            hint=f"loom reads versions {', '.join(KNOWN_VERSIONS)}",
        )
    return version


def remember_versions(components: Iterable[Component], version: str) -> None:
    """Note that ``components`` were loaded from a document declaring ``version``."""
    if version in UNPUBLISHED_VERSIONS:
        return  # written back at what the features need
    for component in components:
        LOADED_VERSIONS.put(component, version)


def writing_version(root: Component, requested: str | None) -> str:
    """The version to write ``root`` at: the one asked for, or else (as pyagentspec) the
    higher of what its features need and the version its parts were loaded at."""
    if requested is not None:
        if requested not in WRITABLE_VERSIONS:
            never = requested in UNPUBLISHED_VERSIONS
            raise VersionError(
                f"cannot write agentspec_version '{requested}'"
                + (": it was never published" if never else ""),
                hint=f"write one of {', '.join(WRITABLE_VERSIONS)}",
            )
        return requested
    version = needed_version(root)[0]
    for component in walk(root):
        loaded = LOADED_VERSIONS.get(component)
        if loaded is not None:
            version = later(version, loaded)
    return version


def needed_version(root: Component) -> tuple[str, str]:
    """The lowest version able to express ``root``, and the feature that sets it."""
    best, feature = FIRST_VERSION, "the base language"
    for component in walk(root):
        for version, why in component.feature_versions():
            if version_key(version) > version_key(best):
                best, feature = version, why
    return best, feature


def check_version_gate(root: Component, declared: str, source: str, strict: bool) -> None:
    """Warn (or, when strict, refuse) if the document's features need a newer version."""
    needed, feature = needed_version(root)
    if version_key(needed) <= version_key(declared):
        return
    message = (
        f"{source} declares agentspec_version {declared}, but {feature} needs {needed}"
    )
    hint = f"set agentspec_version to {needed} or later"
    if strict:
        raise VersionError(message, hint=hint)
    warnings.warn(f"{message}; loading anyway ({hint})", VersionWarning, stacklevel=4)


def reject_registry_document(document: dict[str, Any], source: str) -> None:
    if set(document) == {"$referenced_components"}:
        raise LoadError(
            f"{source} is a disaggregated components document, not a component",
            hint="pass it as a registry: loom.load(main, registry=loom.load_registry(file)) "
            "or `loom validate MAIN --registry FILE`",
        )
