"""A run's events as the server streams them: the ``--trace`` envelope (one JSON
object per Agent Spec event, secrets scrubbed), numbered in order across the
run's segments (its start and each resumption), kept in the store when a
segment ends so that a finished run replays after a restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import IO, cast

from loom.observability import SpanBuilder, TraceFileWriter
from loom.runtime.events import RuntimeEvent
from loom.stores.base import StoredEvent

TOKEN_EVENT = "LlmGenerationChunkReceived"
"""Not stored: their text is in the LLM end event."""

LIVE_LIMIT = 100_000
"""Events one segment keeps in memory; past it, token events are dropped."""


class EventLog:
    """The events of one segment of a run in this process (a runtime listener)."""

    def __init__(self, run_id: str, first_seq: int, secrets: Iterable[str] = (),
                 content: bool = True) -> None:
        self.run_id = run_id
        self.first_seq = first_seq  # the events numbered up to here are in the store
        self.seq = first_seq
        self.items: list[StoredEvent] = []
        self.done = False
        self.changed = asyncio.Event()
        self.builder = SpanBuilder([TraceFileWriter(cast(IO[str], self))], mask_sensitive=not content,
                                   secrets=secrets)

    def __call__(self, event: RuntimeEvent) -> None:
        self.builder(event)

    def write(self, line: str) -> None:
        """A line of the trace writer."""
        # The writer starts every line with {"type":"<type>": no need to parse it all.
        start = len('{"type":"')
        kind = line[start:line.index('"', start)]
        if len(self.items) >= LIVE_LIMIT and kind == TOKEN_EVENT:
            return
        self.seq += 1
        self.items.append((self.seq, kind, line.rstrip("\n")))
        self._wake()

    def flush(self) -> None:
        pass

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def since(self, after: int) -> list[StoredEvent]:
        start = max(0, after - self.first_seq)
        return self.items[start:]

    def close(self) -> None:
        if not self.done:
            with contextlib.suppress(Exception):
                self.builder.shutdown()  # spans cut short get their closing line
            self.done = True
            self._wake()

    def stored(self, limit: int) -> list[StoredEvent]:
        """What the store keeps of this segment: no token events, at most ``limit``."""
        return [item for item in self.items if item[1] != TOKEN_EVENT][:limit]


def sse(item: StoredEvent) -> str:
    seq, kind, data = item
    return f"id: {seq}\nevent: {kind}\ndata: {data}\n\n"
