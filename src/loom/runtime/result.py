"""What a run gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["finished", "failed", "waiting"]


@dataclass
class ErrorInfo:
    """The failure of a run, as data: the node path and the message."""

    node: str
    message: str


@dataclass
class RunResult:
    """``status`` is "finished" or "failed"; ``outputs`` are the flow's outputs;
    ``messages`` is the conversation; ``error`` says which node failed and why."""

    status: Status
    outputs: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    error: ErrorInfo | None = None
    branch: str | None = None
    exception: BaseException | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "outputs": self.outputs,
            "messages": self.messages,
            "error": None
            if self.error is None
            else {"node": self.error.node, "message": self.error.message},
        }

    def raise_for_status(self) -> RunResult:
        """Raise the run's error if it failed; return the result otherwise."""
        if self.exception is not None:
            raise self.exception
        return self
