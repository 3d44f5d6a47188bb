"""Where run states are kept between a wait and its resumption."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from loom.runtime.state import RunState


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    flow_name: str
    pending: int
    created_at: float
    updated_at: float


class CheckpointStore(Protocol):
    """Stores keep one state per run id. ``claim`` marks a stored run as taken
    by this process before it is resumed, so two resumptions cannot both run:
    the second gets a CheckpointError."""

    def save(self, state: RunState) -> None: ...

    def load(self, run_id: str) -> RunState: ...

    def claim(self, run_id: str, owner: str) -> RunState: ...

    def release(self, run_id: str, owner: str) -> None: ...

    def list(self) -> list[RunSummary]: ...

    def delete(self, run_id: str) -> bool: ...

    def close(self) -> None: ...
