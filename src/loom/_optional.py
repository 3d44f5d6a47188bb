"""Optional dependencies: imported on use, or a clear error naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from loom.errors import MissingDependency


def require(
    module: str, extra: str, purpose: str, *, package: str | None = None,
    alternative: str | None = None,
) -> ModuleType:
    """Import ``module`` (``package`` names it in the message), or raise MissingDependency."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(
            package or module.partition(".")[0], extra, purpose, alternative
        ) from None
