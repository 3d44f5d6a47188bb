"""The client side of a run's events: poll the workflow's ``loom.events`` query and
hand each event, rebuilt, to local listeners (a trace file, live progress, a
server's event log), as if the run were local.

Components the client knows (the flow it started) come back as themselves, so
a trace names and scrubs them as locally; others as a :class:`RemoteComponent`
with the same type, id and name. Errors come back as exceptions of the same type
name and message. The event numbers go on across a run's waits and resumptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from loom.runtime.events import Emitter, Listener, RuntimeEvent
from loom.runtime.journal import PendingRequest, Suspended
from loom.spec.component import Component
from loom.spec.walk import walk
from loom.temporal.names import EVENTS_QUERY

T = TypeVar("T")
POLL_SECONDS = 0.15
QUERY_TIMEOUT = timedelta(seconds=10)
LATEST = 2**62  # asked ``after`` it, the query answers only the latest number


@dataclass(frozen=True)
class RemoteComponent:
    """A component of the run the client does not hold: what the events tell of it."""

    component_type: str
    id: str
    name: str


def components_of(root: Component | None) -> dict[str, Component]:
    return {component.id: component for component in walk(root)} if root is not None else {}


class EventFeed:
    """Follows one run's events from ``after`` (the number of the last one seen)."""

    def __init__(self, handle: WorkflowHandle[Any, Any], listeners: Iterable[Listener],
                 components: Mapping[str, Component] | None = None, after: int = 0) -> None:
        self.handle = handle
        self.emitter = Emitter(listeners, run_id=handle.id)
        self.components = dict(components or {})
        self.after = after

    async def follow(self, work: Awaitable[T]) -> T:
        """Deliver events while ``work`` (the run settling) goes on, then the rest;
        ``work``'s result, or its exception, once they are all delivered."""
        task = asyncio.ensure_future(work)
        try:
            while not task.done():
                with contextlib.suppress(RPCError, WorkflowQueryFailedError):
                    await self.read()
                await asyncio.wait({task}, timeout=POLL_SECONDS)
        except BaseException:
            task.cancel()
            raise
        with contextlib.suppress(RPCError, WorkflowQueryFailedError, asyncio.TimeoutError):
            await self.read()  # the workflow has settled: this is the rest of it
        await self.emitter.drain()
        return task.result()

    async def read(self) -> int:
        """Deliver every event after ``self.after`` (page by page); the count delivered."""
        count = 0
        while True:
            page = await self.page(self.after)
            for item in page["events"]:
                if item["seq"] > self.after + 1:  # forgotten before they were read
                    self._dropped(page, item)
                self.emitter.deliver(decode(item, self.handle.id, self.components))
                self.after = item["seq"]
                count += 1
            if not page["events"] or self.after >= page["last"]:
                return count

    async def page(self, after: int) -> dict[str, Any]:
        answer: dict[str, Any] = await self.handle.query(EVENTS_QUERY, after,
                                                         rpc_timeout=QUERY_TIMEOUT)
        return answer

    async def latest(self) -> int:
        """The number of the run's last event so far (resuming goes on from it)."""
        with contextlib.suppress(RPCError, WorkflowQueryFailedError):
            self.after = int((await self.page(LATEST))["last"])
        return self.after

    def _dropped(self, page: dict[str, Any], following: dict[str, Any]) -> None:
        path, step = page["root"] or ([], "")
        self.emitter.deliver(RuntimeEvent(
            "events_dropped", tuple(path), step, following["timestamp"],
            {"count": following["seq"] - self.after - 1, "first": self.after + 1,
             "last": following["seq"] - 1}, self.handle.id))


def decode(item: Mapping[str, Any], run_id: str,
           components: Mapping[str, Component]) -> RuntimeEvent:
    """A RuntimeEvent from what :func:`loom.temporal.eventlog.encode` wrote."""
    data = dict(item["data"])
    for key, kind in item["kinds"].items():
        value = data[key]
        if kind == "component":
            known = components.get(value["id"])
            data[key] = known if known is not None and \
                known.component_type == value["component_type"] else RemoteComponent(**value)
        elif kind == "error":
            data[key] = rebuilt_error(value["type"], value["message"])
        elif kind == "request":
            data[key] = PendingRequest.from_state(value)
    return RuntimeEvent(item["type"], tuple(item["path"]), item["step"], item["timestamp"],
                        data, run_id)


def rebuilt_error(name: str, message: str) -> BaseException:
    """An exception whose type name and text are those raised in the workflow."""
    if name == "CancelledError":
        return asyncio.CancelledError(message)
    if name == "Suspended":
        return Suspended([])
    return _error_class(name)(message)


@functools.lru_cache(maxsize=256)
def _error_class(name: str) -> type[Exception]:
    return type(name, (Exception,), {"__module__": __name__})
