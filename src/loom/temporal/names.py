"""The names and limits client, workflow and workers agree on."""

from __future__ import annotations

import json
from typing import Any

WORKFLOW = "loom.run"
TOOL_ACTIVITY = "loom.tool"
LLM_ACTIVITY = "loom.llm"
HTTP_ACTIVITY = "loom.http"
MCP_ACTIVITY = "loom.mcp"
MCP_END_ACTIVITY = "loom.mcp.end"  # a run ended: its worker closes the run's MCP sessions
SETTLE_UPDATE = "loom.settle"
ANSWER_UPDATE = "loom.answer"
VIEW_QUERY = "loom.view"
EVENTS_QUERY = "loom.events"
DEFAULT_TASK_QUEUE = "loom"
INFRA_ATTEMPTS = 5  # a lost worker or a timed-out attempt; a tool's own error is not retried
CONTINUING = "the run is continuing as new; send it again"  # an answer's refusal, retried
PAYLOAD_LIMIT = 2_000_000  # bytes: Temporal refuses a payload over 2 MB, for ever


def too_large(value: Any, what: str) -> str | None:
    """Why Temporal would refuse ``value`` on every attempt, or None."""
    try:
        size = len(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return None  # the data converter names what it cannot encode
    if size <= PAYLOAD_LIMIT:
        return None
    return (f"{what} is {size:,} bytes, over Temporal's payload limit of {PAYLOAD_LIMIT:,}; "
            "keep large values out of the run (a file or a store, and pass its name)")
