"""What a run gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from loom.runtime.journal import PendingRequest

Status = Literal["finished", "failed", "waiting"]


@dataclass
class ErrorInfo:
    """The failure of a run, as data: the node path and the message."""

    node: str
    message: str


@dataclass
class RunResult:
    """``status`` is "finished", "failed" or "waiting"; ``outputs`` are the flow's
    outputs; ``messages`` is the conversation; ``error`` says which node failed
    and why; a waiting run has a ``run_id`` and its ``pending`` requests."""

    status: Status
    outputs: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    error: ErrorInfo | None = None
    branch: str | None = None
    run_id: str | None = None
    pending: list[PendingRequest] = field(default_factory=list)
    exception: BaseException | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status}
        if self.status == "waiting":
            data["run_id"] = self.run_id
        data["outputs"] = self.outputs
        data["messages"] = self.messages
        if self.status == "waiting":
            data["pending"] = [request.to_dict() for request in self.pending]
        else:
            data["error"] = (
                None
                if self.error is None
                else {"node": self.error.node, "message": self.error.message}
            )
        return data

    def raise_for_status(self) -> RunResult:
        """Raise the run's error if it failed; return the result otherwise."""
        if self.exception is not None:
            raise self.exception
        return self
