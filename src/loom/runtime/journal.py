"""What a run has done, as data: the record that lets a run wait and resume.

The engine is deterministic, so a run can be replayed from its inputs. The
journal records the result of every step that talks to the outside (a tool, an
LLM, an HTTP call, a person's answer); a resumed run replays the flow, takes
recorded results instead of calling out again, and goes on for real from the
first step without a record. Nested flows and branches need no position of
their own: replay rebuilds them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from loom.runtime.keys import EffectEntry, Entry, StepEntry

WaitKind = Literal["input", "client_tool", "confirmation"]


@dataclass
class PendingRequest:
    """Something a run waits for: a person's input, a client tool's result, a yes/no."""

    id: str
    kind: WaitKind
    node: str
    key: str
    prompt: str | None = None
    tool_call: dict[str, Any] | None = None
    result_schema: dict[str, Any] | None = None  # a client tool's declared outputs

    def to_dict(self) -> dict[str, Any]:
        return {**self._fields(), "answer_schema": self.answer_schema()}

    def _fields(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "node": self.node,
            "prompt": self.prompt,
            "tool_call": self.tool_call,
        }

    def answer_schema(self) -> dict[str, Any]:
        """The JSON Schema of a valid answer: text, yes/no, or the tool's result."""
        if self.kind == "input":
            return {"type": "string"}
        if self.kind == "confirmation":
            return {"type": "boolean"}
        name = (self.tool_call or {}).get("name", "the client tool")
        if self.result_schema is not None:
            return {"description": f"the result of tool '{name}'", **self.result_schema}
        return {"description": f"the result of tool '{name}' (any JSON value)"}

    def to_state(self) -> dict[str, Any]:
        typed = {} if self.result_schema is None else {"result_schema": self.result_schema}
        return {**self._fields(), "key": self.key, **typed}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> PendingRequest:
        return cls(
            id=data["id"], kind=data["kind"], node=data["node"], key=data["key"],
            prompt=data.get("prompt"), tool_call=data.get("tool_call"),
            result_schema=data.get("result_schema"),  # absent in runs saved before it
        )


class Suspended(Exception):  # noqa: N818 - it is a signal, not an error
    """Raised through the engine when a step must wait; carries every pending request.

    Never caught by CatchExceptionNode; parallel nodes gather the suspensions of
    all their branches (letting the others finish) and raise them together.
    """

    def __init__(self, requests: list[PendingRequest]) -> None:
        super().__init__(f"waiting for {len(requests)} request(s)")
        self.requests = requests


@dataclass
class Journal:
    """Recorded results and answers to waits, by key (:mod:`loom.runtime.keys`);
    ``on_record`` checkpoints after each ``put``."""

    entries: dict[str, Any] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)
    on_record: Callable[[], Awaitable[None]] | None = None

    def step(self, key: str) -> StepEntry | None:
        return self.entries.get(key)

    def effect(self, key: str) -> EffectEntry | None:
        return self.entries.get(key)

    async def put(self, key: str, entry: Entry) -> None:
        self.entries[key] = entry
        if self.on_record is not None:
            await self.on_record()

    def put_unsaved(self, key: str, entry: Entry) -> None:
        """Record with no checkpoint (no ``on_record``; from a worker thread)."""
        self.entries[key] = entry
