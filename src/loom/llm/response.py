"""What a chat-completions call returns, independent of streaming or not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for; ``arguments`` is a JSON string."""

    id: str
    name: str
    arguments: str


@dataclass
class LlmResponse:
    """The assistant's answer: text and/or tool calls, plus token usage.

    ``usage`` holds the server's counts (``prompt_tokens``,
    ``completion_tokens``, ...) when it sent them, else it is empty. ``raw`` is
    the decoded body (non-streaming) or the list of decoded chunks (streaming).
    """

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    raw: Any = field(default=None, repr=False)
