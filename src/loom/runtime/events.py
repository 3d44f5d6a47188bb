"""Events: what the runtime tells listeners while a run goes on.

The engine emits an event when a flow, a node, a tool call or an LLM call
starts and ends, when a message is added, when a run waits. A listener is any
callable taking a :class:`RuntimeEvent`, sync or async; a listener that raises
is reported once as a warning and never changes the run. Timestamps are read
here, never in the engine, which stays free of clocks.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from loom.errors import LoomWarning

Listener = Callable[["RuntimeEvent"], None | Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RuntimeEvent:
    """One thing that happened. ``path`` is ``(flow, node, subflow, node...)``;
    ``step`` is the journal key of the node execution it belongs to (unique per
    loop pass and per parallel branch)."""

    type: str
    path: tuple[str, ...]
    step: str
    timestamp_ns: int
    data: dict[str, Any] = field(default_factory=dict)


class Emitter:
    """Delivers events to listeners; costs one attribute check when there are none."""

    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self.listeners = list(listeners)
        self.enabled = bool(self.listeners)
        self._pending: set[asyncio.Future[Any]] = set()
        self._failed: set[int] = set()

    def emit(self, type: str, path: tuple[str, ...], step: str = "", **data: Any) -> None:
        event = RuntimeEvent(type, path, step, time.time_ns(), data)
        for listener in self.listeners:
            try:
                result = listener(event)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._pending.add(task)
                    task.add_done_callback(self._finished(listener))
            except Exception as exc:
                self._report(listener, exc)

    def _finished(self, listener: Listener) -> Callable[[asyncio.Future[Any]], None]:
        def done(task: asyncio.Future[Any]) -> None:
            self._pending.discard(task)
            if not task.cancelled() and task.exception() is not None:
                self._report(listener, task.exception())  # type: ignore[arg-type]

        return done

    def _report(self, listener: Listener, exc: BaseException) -> None:
        if id(listener) in self._failed:
            return
        self._failed.add(id(listener))
        name = getattr(listener, "__qualname__", type(listener).__name__)
        warnings.warn(
            f"event listener {name} raised {type(exc).__name__}: {exc}; the run goes on",
            LoomWarning,
            stacklevel=2,
        )

    async def drain(self) -> None:
        """Wait for async listeners still working on earlier events."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
