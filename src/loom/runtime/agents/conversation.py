"""The messages an agent reads and appends to, and how they go to the model.

Messages are plain dicts in the OpenAI chat shape (``role``, ``content``,
``tool_calls``, ``tool_call_id``) plus loom's own keys (``agent``: who spoke,
``name``: the tool that answered), which are left out of requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from loom.runtime.context import RunContext

_ROLES = frozenset({"system", "user", "assistant", "tool"})


class Thread(Protocol):
    """What one agent sees of a conversation and where its messages go."""

    @property
    def messages(self) -> list[dict[str, Any]]: ...

    def add(self, message: dict[str, Any]) -> None: ...

    def fresh(self, ctx: RunContext) -> Thread:
        """The view the next agent of the same conversation gets (a hand-off)."""
        ...


class SharedView:
    """The run's conversation as one agent sees it.

    The agent sees the messages said before it started, then its own; what
    other parallel branches say meanwhile is not mixed into its requests (they
    land in the run's conversation all the same). Its messages are said on
    behalf of ``ctx``.
    """

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx
        self._messages = list(ctx.messages)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self._messages

    def add(self, message: dict[str, Any]) -> None:
        self._messages.append(message)
        self._ctx.say(message)

    def fresh(self, ctx: RunContext) -> SharedView:
        return SharedView(ctx)


class PrivateThread:
    """A conversation between two agents (a manager and a worker, a caller and
    the agent it sends a message to); the user never sees it."""

    def __init__(self) -> None:
        self._messages: list[dict[str, Any]] = []

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self._messages

    def add(self, message: dict[str, Any]) -> None:
        self._messages.append(message)

    def fresh(self, ctx: RunContext) -> PrivateThread:
        return self


def has_user_message(messages: Iterable[dict[str, Any]]) -> bool:
    return any(message.get("role") == "user" for message in messages)


def request_messages(system: str, messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The system prompt and the conversation, as the chat-completions API wants them.

    Tool calls without a result (a turn another branch is still in) and
    results without their call are left out, so a request is always well formed.
    """
    answered = {
        message.get("tool_call_id") for message in messages if message.get("role") == "tool"
    }
    asked: set[Any] = set()
    result: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        role = message.get("role")
        if role not in _ROLES:
            continue
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in asked:
                continue
            asked.discard(call_id)  # one result per call
            result.append({"role": "tool", "tool_call_id": call_id,
                           "content": _text(message.get("content"))})
            continue
        out: dict[str, Any] = {"role": role, "content": _text(message.get("content"))}
        calls = [call for call in message.get("tool_calls") or () if call.get("id") in answered]
        if role == "assistant" and calls:
            asked.update(call["id"] for call in calls)
            out["tool_calls"] = [_call(call) for call in calls]
            if not out["content"]:
                out["content"] = None
        elif role == "assistant" and message.get("tool_calls") and not out["content"]:
            continue  # only unanswered calls: nothing to say
        result.append(out)
    return result


def _call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": function.get("name", ""),
                     "arguments": function.get("arguments") or "{}"},
    }


def _text(content: Any) -> str:
    if content is None:
        return ""
    return content if isinstance(content, str) else str(content)
