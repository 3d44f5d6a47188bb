"""What a running flow carries: its place in the tree, the run it belongs to, the services."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loom.errors import PATH_SEPARATOR
from loom.runtime.events import Emitter
from loom.runtime.journal import Journal, PendingRequest, Suspended, WaitKind
from loom.runtime.keys import child_key, effect_entry, effect_key, request_id, wait_key

if TYPE_CHECKING:
    from loom.runtime.services import Services


@dataclass
class Run:
    """What every context of one run shares: its id, conversation, journal, events and memo."""

    run_id: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    journal: Journal = field(default_factory=Journal)
    events: Emitter = field(default_factory=Emitter)
    # In-memory state of this run only (never checkpointed), e.g. summary caches.
    memo: dict[str, Any] = field(default_factory=dict)
    # What the run opened and closes when it ends, last first (MCP sessions).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        """Close what the run opened; called by the Runtime however the run ends."""
        while self.closers:
            with contextlib.suppress(Exception):
                await self.closers.pop()()


class RunContext:
    """A position in a run: the path of flows and nodes that leads here.

    Children (a subflow, a branch) share the run and extend the path of error
    messages and step keys. While a node runs, ``step`` is its journal key and
    ``said`` the messages it appended.
    """

    __slots__ = ("services", "run", "path", "permit", "step", "said")

    def __init__(
        self,
        services: Services,
        run: Run,
        path: tuple[str, ...],
        permit: asyncio.Semaphore | None = None,
        step: str = "",
    ) -> None:
        self.services = services
        self.run = run
        self.path = path
        self.permit = permit
        self.step = step
        self.said: list[dict[str, Any]] = []

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.run.messages

    def child(self, *names: str, permit: asyncio.Semaphore | None = None) -> RunContext:
        """A context for a subflow of the current step; without a new ``permit`` it
        keeps the branch's, so a parallel node nested in it can give it back."""
        return RunContext(
            self.services,
            self.run,
            self.path + names,
            permit if permit is not None else self.permit,
            child_key(self.step, *names),
        )

    def at_step(self, node_name: str, key: str) -> RunContext:
        """The context a node runs in: its path and journal key."""
        return RunContext(self.services, self.run, self.path + (node_name,), self.permit, key)

    def say(self, message: dict[str, Any]) -> None:
        """Append a message to the conversation, on behalf of the current step."""
        self.run.messages.append(message)
        self.said.append(message)
        if self.run.events.enabled:
            self.run.events.emit("message", self.path, self.step, message=message)

    def wait(
        self,
        kind: WaitKind,
        prompt: str | None = None,
        tool_call: dict[str, Any] | None = None,
        at: tuple[str, ...] = (),
        schema: dict[str, Any] | None = None,
    ) -> Any:
        """The answer to this step's request (``at`` names the part of the step
        that asks: ``(call, "client")``; ``schema``: a client tool's result's), or
        Suspended if it has none yet."""
        key = wait_key(self.step, *at)
        answers = self.run.journal.answers
        if key in answers:
            return answers[key]
        request = PendingRequest(
            id=request_id(key), kind=kind, node=PATH_SEPARATOR.join(self.path), key=key,
            prompt=prompt, tool_call=tool_call, result_schema=schema,
        )
        if self.run.events.enabled:
            self.run.events.emit("wait", self.path, self.step, request=request)
        raise Suspended([request])

    async def effect(self, name: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run one outside call of a multi-call step (an agent's LLM turns and tool
        calls), or take its recorded result when the run is replayed."""
        key = effect_key(self.step, name)
        entry = self.run.journal.effect(key)
        if entry is not None:
            return entry["value"]
        value = await call()
        await self.run.journal.put(key, effect_entry(value))
        return value

    @contextlib.asynccontextmanager
    async def waiting_for_children(self) -> AsyncIterator[None]:
        """Give back this branch's concurrency permit while its children run: nested
        parallel nodes holding every permit while their children wait for one would
        deadlock."""
        permit = self.permit
        if permit is None:
            yield
            return
        permit.release()
        try:
            yield
        finally:
            await permit.acquire()
