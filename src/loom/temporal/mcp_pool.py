"""The MCP sessions a worker keeps for the runs whose calls it serves.

Locally a run has one session per server; on Temporal a run's MCP calls are
activities that may land on any worker, so each worker keeps the sessions of
the runs it serves, keyed by (run id, server), and the calls of one run on one
worker share them. The pool is the worker's: bounded (least recently used
first out), closed after an idle timeout, when the run ends (the workflow's
last activity, best effort: it reaches one worker) and when the worker stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from loom.mcp import Sessions
from loom.mcp.servers import server_key
from loom.mcp.sessions import Session
from loom.spec.transports import ClientTransport

Key = tuple[str, str]  # (run id, server)


@dataclass(eq=False)
class _Entry:
    key: Key
    session: Session
    opening: asyncio.Future[None]
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)
    closing: asyncio.Task[None] | None = None


class SessionPool:
    """At most ``size`` pooled sessions; one idle ``idle_timeout`` seconds is closed.
    When every pooled session is in use by a call, a new one serves that call alone."""

    def __init__(self, size: int = 64, idle_timeout: float = 300.0) -> None:
        self.size = size
        self.idle_timeout = idle_timeout
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._entries)

    def runs(self) -> set[str]:
        """The runs that have a session here now."""
        return {run for run, _ in self._entries}

    @contextlib.asynccontextmanager
    async def lease(self, run_id: str) -> AsyncIterator[Sessions]:
        """The sessions of ``run_id`` for one call: what ``mcp.call_tool`` takes."""
        if self._reaper is None and not self._closed:
            self._reaper = asyncio.create_task(self._reap(), name="loom MCP session pool")
        sessions = _Lease(self, run_id)
        try:
            yield sessions
        finally:
            await sessions.release()

    async def end_run(self, run_id: str) -> int:
        """Close the sessions of a run that has ended; how many there were."""
        ended = [entry for key, entry in self._entries.items() if key[0] == run_id]
        for entry in ended:
            self._forget(entry)
        await asyncio.gather(*(self._closing_of(e) for e in ended), return_exceptions=True)
        return len(ended)

    async def close(self) -> None:
        """Close every session (the worker stops)."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        for entry in list(self._entries.values()):
            self._forget(entry)
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def _get(self, lease: _Lease, transport: ClientTransport) -> Session:
        key = (lease.run_id, server_key(transport))
        entry = self._entries.get(key)
        if entry is None:
            if self._closed or (len(self._entries) >= self.size and not self._evict()):
                return await Sessions.get(lease, transport)  # this call's own, as unpooled
            session = Session(transport, lease)
            opening = asyncio.ensure_future(session.open())
            entry = self._entries[key] = _Entry(key, session, opening)
        self._entries.move_to_end(key)
        entry.users += 1
        lease.held.append(entry)
        try:
            await asyncio.shield(entry.opening)
        except BaseException:
            self._forget(entry)  # the first to see the failure closes it; others wait
            raise
        return entry.session

    def _evict(self) -> bool:
        """Close the least recently used session no call is using; False if none."""
        for entry in self._entries.values():
            if entry.users == 0 and entry.opening.done():
                self._forget(entry)
                return True
        return False

    def drop(self, session: Session) -> None:
        """A broken session (its server died): the run's next call opens a new one."""
        for entry in list(self._entries.values()):
            if entry.session is session:
                self._forget(entry)

    def _forget(self, entry: _Entry) -> None:
        if self._entries.get(entry.key) is entry:
            del self._entries[entry.key]
            if entry.users == 0:
                self._close_later(entry)

    def _released(self, entry: _Entry) -> None:
        entry.users -= 1
        entry.last_used = time.monotonic()
        if entry.users == 0 and self._entries.get(entry.key) is not entry:
            self._close_later(entry)  # forgotten while in use

    def _close_later(self, entry: _Entry) -> None:
        task = asyncio.ensure_future(self._close_entry(entry))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        entry.closing = task

    async def _close_entry(self, entry: _Entry) -> None:
        await asyncio.wait({entry.opening})  # opened, or failed to: then it can close
        await entry.session.close()

    async def _closing_of(self, entry: _Entry) -> None:
        if entry.closing is not None:
            await entry.closing

    async def _reap(self) -> None:
        """Close sessions idle for ``idle_timeout``; runs until the pool closes."""
        while True:
            await asyncio.sleep(max(self.idle_timeout / 4, 0.05))
            now = time.monotonic()
            for entry in list(self._entries.values()):
                if entry.users == 0 and now - entry.last_used >= self.idle_timeout:
                    self._forget(entry)


class _Lease(Sessions):
    """One call's view of the pool: sessions it gets are marked in use until it ends;
    a session it had to open outside the pool closes with it."""

    def __init__(self, pool: SessionPool, run_id: str) -> None:
        super().__init__()
        self.pool = pool
        self.run_id = run_id
        self.held: list[_Entry] = []

    async def get(self, transport: ClientTransport) -> Session:
        return await self.pool._get(self, transport)

    def drop(self, session: Session) -> None:
        super().drop(session)  # one of this call's own, if it is
        self.pool.drop(session)  # a pooled one, if it is

    async def release(self) -> None:
        held, self.held = self.held, []
        for entry in held:
            self.pool._released(entry)
        await Sessions.close(self)
