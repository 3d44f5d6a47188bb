"""Scripted answers for the fake LLM server and how a request picks one.

A script rule matches the text of the last user message: a ``str`` matches
as a substring, a compiled ``re.Pattern`` with ``search``, a callable gets the
text and returns a bool, ``None`` matches everything. A rule may also require
its ``system`` matcher to match the system prompt (so a multi-agent test can
script each agent by its instructions). Rules are tried in the order they were
added; the first that yields a reply wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

DEFAULT_PREFIX = "fake answer to: "
DEFAULT_QUOTE_CHARS = 80


@dataclass(frozen=True)
class ScriptedToolCall:
    """A tool call the fake model makes. ``arguments`` may be a dict or JSON text."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class ToolCallsReply:
    """Answer with tool calls (finish_reason ``tool_calls``), optionally with text."""

    calls: Sequence[ScriptedToolCall | Mapping[str, Any]]
    text: str = ""


ReplyValue: TypeAlias = (
    str | Mapping[str, Any] | Sequence[ScriptedToolCall | Mapping[str, Any]] | ToolCallsReply
)
"""Text, a structured value (sent as JSON text), or tool calls."""

Reply: TypeAlias = ReplyValue | Callable[[dict[str, Any]], ReplyValue]
"""A reply, or a function of the request body that returns one."""

Matcher: TypeAlias = str | re.Pattern[str] | Callable[[str], bool] | None
"""Substring, regex (searched), predicate on the text, or ``None`` for any."""


@dataclass(frozen=True)
class Answer:
    """What the fake model says: text and/or OpenAI-format tool calls."""

    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


@dataclass(frozen=True)
class ScriptRule:
    """One ``script``/``script_sequence`` entry.

    A sequence gives ``replies[k]`` for the k-th assistant turn of a
    conversation, k being the number of assistant messages already in the
    request; past its end the rule no longer matches. This needs no server-side
    state, so concurrent conversations never steal each other's turns.
    """

    matcher: Matcher
    replies: tuple[Reply, ...]
    sequence: bool = False
    system: Matcher = None

    def pick(self, last_user: str, turn: int, system: str = "") -> Reply | None:
        if not matches(self.matcher, last_user):
            return None
        if self.system is not None and not matches(self.system, system):
            return None
        if not self.sequence:
            return self.replies[0]
        return self.replies[turn] if turn < len(self.replies) else None


def matches(matcher: Matcher, text: str) -> bool:
    """Apply a matcher to the last user message's text."""
    if matcher is None:
        return True
    if isinstance(matcher, str):
        return matcher in text
    if isinstance(matcher, re.Pattern):
        return matcher.search(text) is not None
    return bool(matcher(text))


def message_text(message: Mapping[str, Any]) -> str:
    """A message's content as text (list-of-parts content joined with spaces)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """Text of the last ``role: user`` message, or "" if there is none."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def system_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """Text of the ``role: system`` messages, joined with newlines."""
    return "\n".join(message_text(m) for m in messages if m.get("role") == "system")


def assistant_turn(messages: Sequence[Mapping[str, Any]]) -> int:
    """How many assistant messages the conversation already holds."""
    return sum(1 for message in messages if message.get("role") == "assistant")


def default_text(last_user: str) -> str:
    """The unscripted answer: ``"fake answer to: "`` + first 80 chars of the last user message."""
    return DEFAULT_PREFIX + last_user[:DEFAULT_QUOTE_CHARS]


def to_answer(reply: ReplyValue, turn: int) -> Answer:
    """Turn a scripted reply into an :class:`Answer`; tool-call ids are ``call_<turn>_<i>``."""
    if isinstance(reply, ToolCallsReply):
        return Answer(reply.text, _tool_calls(reply.calls, turn))
    if isinstance(reply, str):
        return Answer(reply)
    if isinstance(reply, Mapping):
        return Answer(json.dumps(reply))
    return Answer("", _tool_calls(reply, turn))


def _tool_calls(
    calls: Sequence[ScriptedToolCall | Mapping[str, Any]], turn: int
) -> list[dict[str, Any]]:
    result = []
    for index, call in enumerate(calls):
        if isinstance(call, Mapping):
            call = ScriptedToolCall(
                name=str(call["name"]), arguments=call.get("arguments", {}), id=call.get("id")
            )
        arguments = (
            call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
        )
        result.append(
            {
                "id": call.id or f"call_{turn}_{index}",
                "type": "function",
                "function": {"name": call.name, "arguments": arguments},
            }
        )
    return result
