"""A run's events as the server streams them: the ``--trace`` envelope (one JSON
object per Agent Spec event, secrets scrubbed), numbered in order across the
run's segments (its start and each resumption), written to the store in small
batches while the run goes on (so other processes on the store stream them too)
and when a segment ends (so that a finished run replays after a restart)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterable
from typing import IO, cast

from loom.observability import SpanBuilder, TraceFileWriter
from loom.runtime.events import RuntimeEvent
from loom.stores.base import StoredEvent

TOKEN_EVENT = "LlmGenerationChunkReceived"
"""Not stored: their text is in the LLM end event."""

LIVE_LIMIT = 100_000
"""Events one segment keeps in memory; past it, token events are dropped."""

FLUSH_EVENTS = 200
"""Events waiting for the store that make the holder write them before its next tick."""


class EventLog:
    """The events of one segment of a run in this process (a runtime listener)."""

    def __init__(self, run_id: str, first_seq: int, secrets: Iterable[str] = (),
                 content: bool = True, nudge: Callable[[], None] | None = None) -> None:
        self.run_id = run_id
        self.first_seq = first_seq  # the events of earlier segments, in the store
        self.seq = first_seq
        self.flushed = first_seq  # the events numbered up to here went to the store
        self.kept = 0  # the events of this segment in the store
        self.fresh = 0  # events to store numbered above ``flushed``
        self.nudge = nudge  # asks for a write to the store before the next tick
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
        if kind != TOKEN_EVENT:
            self.fresh += 1
            if self.fresh == FLUSH_EVENTS and self.nudge is not None:
                self.nudge()
        self._wake()

    def flush(self) -> None:
        """The trace writer's flush: when the root span ends, and every 256 lines."""
        if self.fresh and self.nudge is not None:
            self.nudge()

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

    def unflushed(self, limit: int) -> tuple[int, list[StoredEvent]]:
        """(the last number looked at, what the store is to keep up to it): no token
        events, at most ``limit`` in the segment. :meth:`flushed_to` once written."""
        fresh = [item for item in self.items[self.flushed - self.first_seq:]
                 if item[1] != TOKEN_EVENT]
        return self.seq, fresh[:max(0, limit - self.kept)]

    def flushed_to(self, seq: int, kept: int) -> None:
        looked = self.items[self.flushed - self.first_seq:seq - self.first_seq]
        self.fresh -= sum(1 for item in looked if item[1] != TOKEN_EVENT)
        self.flushed = seq
        self.kept += kept


def ends_segment(item: StoredEvent) -> bool:
    """Whether an event closes its run's root span: a segment (a start or a
    resumption) is over, all its events told."""
    if not item[1].endswith(("End", "SpanClosed")) or '"parent_id":null' not in item[2]:
        return False
    span = json.loads(item[2]).get("span") or {}
    return span.get("parent_id") is None and "end_time" in span


def sse(item: StoredEvent) -> str:
    seq, kind, data = item
    return f"id: {seq}\nevent: {kind}\ndata: {data}\n\n"
