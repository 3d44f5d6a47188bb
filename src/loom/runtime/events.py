"""Events: what the runtime tells listeners while a run goes on.

A listener is any callable taking a :class:`RuntimeEvent`, sync or async; one
that raises is reported once as a warning and never changes the run. Timestamps
are read here, never in the engine, which stays free of clocks. The event types
and their ``data``: the README's table (Seeing what a run does). A node's own
events (tool, LLM, message, exception, wait) carry the node's ``step``.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from loom.errors import LoomWarning, NodeFailure, StepError, describe
from loom.runtime.journal import Suspended

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
    run_id: str = ""


class Emitter:
    """Delivers events to listeners; costs one attribute check when there are none."""

    def __init__(
        self, listeners: Iterable[Listener] = (), run_id: str = "",
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.listeners = list(listeners)
        self.clock = clock
        self.enabled = bool(self.listeners)
        self.run_id = run_id
        self._pending: set[asyncio.Future[Any]] = set()
        self._failed: set[int] = set()
        self._reported: list[BaseException] = []

    def emit(self, type: str, path: tuple[str, ...], step: str = "", **data: Any) -> None:
        self.deliver(RuntimeEvent(type, path, step, self.clock(), data, self.run_id))

    def deliver(self, event: RuntimeEvent) -> None:
        """Hand an event made elsewhere (a backend's workflow) to the listeners."""
        for listener in self.listeners:
            try:
                result = listener(event)
                if result is not None and inspect.isawaitable(result):
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
            f"event listener {name} raised {describe(exc)}; the run goes on",
            LoomWarning,
            stacklevel=2,
        )

    def exception(self, path: tuple[str, ...], step: str, exc: BaseException) -> None:
        """Emit ``exception`` for an error the first time it passes a node or flow
        (waits and cancellations are not errors)."""
        if isinstance(exc, (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt)):
            return
        if isinstance(exc, Suspended) or any(exc is seen for seen in self._reported):
            return
        self._reported.append(exc)
        kind, message = describe_exception(exc)
        self.emit("exception", path, step, exception_type=kind, message=message)

    async def drain(self) -> None:
        """Wait for async listeners still working on earlier events."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


MAX_EXCEPTION_MESSAGE = 300


def describe_exception(exc: BaseException) -> tuple[str, str]:
    """The type name and a sanitized message: the first line, cut to 300 characters,
    with no stack trace. A node failure that wraps another error names the original
    type (``ValueError``, ``LlmHttpError``...)."""
    origin = exc
    while type(origin) in _WRAPPERS and origin.__cause__ is not None:
        origin = origin.__cause__
    if type(origin) is StepError:
        origin = exc
    lines = describe(exc, node=False, typed=False).strip().splitlines()
    first = lines[0] if lines else type(origin).__name__
    return type(origin).__name__, first[:MAX_EXCEPTION_MESSAGE]


_WRAPPERS = (NodeFailure, StepError)


_END: Any = object()


class RunStream:
    """The events of one run, as they happen: ``async for event in stream``.

    The run starts at the first ``__anext__``; when the iteration ends,
    :attr:`result` holds the run's RunResult (a configuration error is raised by
    the iteration instead). ``async with runtime.astream(...) as stream`` cancels
    the run if the block is left before the run ends.
    """

    def __init__(self, start: Callable[[Listener], Awaitable[Any]]) -> None:
        self._start = start
        self._queue: asyncio.Queue[Any] | None = None
        self._task: asyncio.Future[Any] | None = None
        self._finished = False
        self.result: Any = None

    def __aiter__(self) -> RunStream:
        return self

    async def __anext__(self) -> RuntimeEvent:
        if self._finished:
            raise StopAsyncIteration
        if self._task is None:
            queue = self._queue = asyncio.Queue()
            self._task = asyncio.ensure_future(self._start(queue.put_nowait))
            self._task.add_done_callback(lambda _: queue.put_nowait(_END))
        assert self._queue is not None
        item = await self._queue.get()
        if item is _END:
            self._finished = True
            self.result = self._task.result()
            raise StopAsyncIteration
        return cast(RuntimeEvent, item)

    async def aclose(self) -> None:
        """Cancel the run if it is still going."""
        self._finished = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def __aenter__(self) -> RunStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
