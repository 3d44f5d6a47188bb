"""The official ``mcp`` SDK, optional (``loom[mcp]``): imported on first use, so loom
without it still loads and validates MCP components."""

from __future__ import annotations

from types import ModuleType

from loom._optional import require


def sdk(module: str = "mcp") -> ModuleType:
    """A module of the ``mcp`` SDK (or its httpx2, anyio), or MissingDependency."""
    return require(module, "mcp", "running MCP tools", package="mcp")
