"""A run's events, kept by its workflow for clients to read: the ``loom.events`` query.

The engine inside the workflow emits the same events as a local run (with the
workflow's clock); this listener numbers them and keeps them as JSON, so that
a client (``TemporalBackend``, ``loom serve --backend``) feeds them to its own
listeners: a trace file, live progress, a server's event stream.

Why a query, polled: a query is answered by the worker from the workflow's
memory and writes nothing to the history, so reading events costs the run
nothing durable, however often a client asks; an update (or a signal) per read
would grow the history with every poll. The events themselves are not in the
history either: a replay emits them again, in the same order with the same
timestamps, so the log a fresh worker rebuilds is the one a client was reading.

Bounded: token events are left out (an LLM call is one activity, its text is in
the ``llm_end`` event); a value larger than :data:`EVENT_BYTES` is replaced by a
note of its size; past :data:`KEPT_EVENTS` events or :data:`KEPT_BYTES` the
oldest are forgotten (but the run's opening ``flow_start``), and a client that
asks for them finds a gap in the numbers, which it reports as an
``events_dropped`` event with the count. A page answers at most :data:`PAGE_BYTES`,
well under Temporal's 2 MB limit on a query's answer.

A query on a run that ended replays its history on a worker (a closed workflow
is not cached): reading a finished run's events costs about what the run's
workflow tasks took, once per page.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from typing import Any

from loom.errors import LoomError
from loom.observability.masking import to_jsonable
from loom.runtime.events import RuntimeEvent, describe_exception
from loom.runtime.journal import PendingRequest
from loom.spec.component import Component

EVENT_BYTES = 128 * 1024
KEPT_EVENTS = 20_000
KEPT_BYTES = 4 * 1024 * 1024
TAIL_BYTES = 128 * 1024  # the newest events a continued run carries, for late readers
PAGE_BYTES = 480 * 1024  # under the 512 KiB past which the SDK warns of a large payload
LEFT_OUT = frozenset({"llm_token"})


class WorkflowEventLog:
    """The listener of the workflow's Runtime; ``page(after)`` answers the query."""

    def __init__(self) -> None:
        self.seq = 0  # the number of the last event emitted, kept or not
        self.kept: deque[tuple[int, int, dict[str, Any]]] = deque()  # (seq, size, event)
        self.size = 0
        self.root: list[Any] | None = None  # [path, step] of the run's flow
        self.opening: tuple[int, int, dict[str, Any]] | None = None  # its flow_start, kept

    def __call__(self, event: RuntimeEvent) -> None:
        if event.type in LEFT_OUT:
            return
        if self.root is None and event.type == "flow_start":
            self.root = [list(event.path), event.step]
        self.seq += 1
        item = encode(event, self.seq)
        size = len(json.dumps(item, separators=(",", ":")))
        if size > EVENT_BYTES:
            item, size = _shrunk(item)
        if self.opening is None and event.type == "flow_start":
            self.opening = (self.seq, size, item)  # never forgotten: a late reader's root span
        self.kept.append((self.seq, size, item))
        self.size += size
        while len(self.kept) > KEPT_EVENTS or self.size > KEPT_BYTES:
            self.size -= self.kept.popleft()[1]

    def tail(self) -> dict[str, Any]:
        """What a run that continues as new carries: the last number, and its newest
        events (up to :data:`TAIL_BYTES`), which a client may not have read yet."""
        items: list[dict[str, Any]] = []
        size = 0
        for _, item_size, item in reversed(self.kept):
            if size + item_size > TAIL_BYTES:
                break
            items.append(item)
            size += item_size
        return {"seq": self.seq, "events": items[::-1]}

    def carry_on(self, carried: dict[str, Any]) -> None:
        """Go on from the run this one continues: its numbering and its last events."""
        self.seq = int(carried.get("seq", 0))
        for item in carried.get("events", ()):
            size = len(json.dumps(item, separators=(",", ":")))
            self.kept.append((item["seq"], size, item))
            self.size += size

    def page(self, after: int) -> dict[str, Any]:
        """The events numbered after ``after`` (as many as fit a page); ``dropped``
        counts those asked for but forgotten; ``last`` is the latest number."""
        first = self.kept[0][0] if self.kept else self.seq + 1
        events: list[dict[str, Any]] = []
        size = 0
        if self.opening is not None and after < self.opening[0] < first:
            events.append(self.opening[2])
            after, size = self.opening[0], self.opening[1]
        for _, item_size, item in itertools.islice(self.kept, max(0, after + 1 - first), None):
            if events and size + item_size > PAGE_BYTES:
                break
            events.append(item)
            size += item_size
        return {"events": events, "dropped": max(0, first - after - 1), "last": self.seq,
                "root": self.root}


def encode(event: RuntimeEvent, seq: int) -> dict[str, Any]:
    """An event as JSON; ``kinds`` says which values were components, errors or
    requests, so a client rebuilds them (see :mod:`loom.temporal.eventfeed`)."""
    data: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    for key, value in event.data.items():
        if isinstance(value, Component):
            kinds[key] = "component"
            data[key] = {"component_type": value.component_type, "id": value.id,
                         "name": value.name}
        elif isinstance(value, BaseException):
            kinds[key] = "error"
            kind, message = describe_exception(value)
            data[key] = {"type": kind, "message": message,
                         "loom": isinstance(value, LoomError)}
        elif isinstance(value, PendingRequest):
            kinds[key] = "request"
            data[key] = value.to_state()
        else:
            data[key] = to_jsonable(value)
    return {"seq": seq, "type": event.type, "path": list(event.path), "step": event.step,
            "timestamp": event.timestamp_ns, "data": data, "kinds": kinds}


def _shrunk(item: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """``item`` with its largest values replaced by a note of their size, until it fits."""
    data, kinds = dict(item["data"]), dict(item["kinds"])
    lengths = {key: len(json.dumps(value, separators=(",", ":"))) for key, value in data.items()}
    shrunk, size = item, EVENT_BYTES + 1
    for key in sorted(lengths, key=lengths.__getitem__, reverse=True):
        data[key] = f"** {lengths[key]:,} bytes, too large for the run's event log **"
        kinds.pop(key, None)
        shrunk = {**item, "data": data, "kinds": kinds}
        size = len(json.dumps(shrunk, separators=(",", ":")))
        if size <= EVENT_BYTES:
            break
    return shrunk, size
