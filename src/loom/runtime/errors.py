"""Errors raised while a flow runs; each names the node by its path."""

from __future__ import annotations

from loom.errors import LoomError

PATH_SEPARATOR = " > "


class RunError(LoomError):
    """A run failed. ``node_path`` is ``flow > node > subflow > node``."""

    def __init__(self, message: str, node_path: tuple[str, ...] = (), hint: str | None = None):
        self.node_path = node_path
        super().__init__(message, hint=hint)

    @property
    def node(self) -> str:
        return PATH_SEPARATOR.join(self.node_path)

    def describe(self) -> str:
        where = f"{PATH_SEPARATOR.join(self.node_path)}: " if self.node_path else ""
        return where + super().describe()


class NodeFailure(RunError):
    """A node raised (a tool error, an LLM error, a bad value...)."""


class PlanError(RunError):
    """The flow cannot run with this runtime (a tool is missing, a node unsupported)."""


class BranchTimeout(RunError):
    """A parallel branch ran past its time limit."""


class StepError(Exception):
    """Raised by an executor about its own node; the engine adds the node's path."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
