"""Optional dependencies: imported on use, or a clear error naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from loom.errors import LoomError


class MissingDependency(LoomError):
    """An optional package is not installed; the hint names the extra that brings it."""

    def __init__(self, package: str, extra: str, purpose: str, alternative: str | None) -> None:
        hint = f"pip install 'loom[{extra}]'"
        super().__init__(
            f"{purpose} needs {package}, which is not installed",
            hint=f"{hint}, or {alternative}" if alternative else hint,
        )
        self.package = package
        self.extra = extra


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
