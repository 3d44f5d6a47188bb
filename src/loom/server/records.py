"""The run record: exactly what ``loom run --json`` prints, plus ``run_id`` and
``component``; built from the stored state through the same RunResult.to_dict."""

from __future__ import annotations

from typing import Any

from loom.runs import RunState
from loom.runtime import ErrorInfo, RunResult
from loom.runtime.journal import PendingRequest

SERVER_KEY = "server"  # the run's metadata: {"server": {"component", "checkpoint"}}


def server_meta(state: RunState) -> dict[str, Any]:
    meta = state.metadata.get(SERVER_KEY)
    return meta if isinstance(meta, dict) else {}


def record(state: RunState) -> dict[str, Any]:
    error = None
    if state.error:
        error = ErrorInfo(node=str(state.error.get("node") or ""),
                          message=str(state.error.get("message") or ""))
    shown = state.status if state.status in ("finished", "failed", "waiting") else "failed"
    result = RunResult(
        shown, state.outputs, state.messages, error, run_id=state.run_id,
        pending=[PendingRequest.from_state(item) for item in state.pending],
    )
    data = result.to_dict()
    data["status"] = state.status
    if state.status == "running":
        data["error"] = None
    data["run_id"] = state.run_id
    data["component"] = server_meta(state).get("component")
    return data


def summary(state: RunState) -> dict[str, Any]:
    """A run in a listing: its record, and when it was created and last saved."""
    return {**record(state), "created_at": state.created_at, "updated_at": state.updated_at}
