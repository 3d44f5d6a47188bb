"""MCP sessions, one per server per run, owned by the run and closed when it ends.

The SDK's clients are anyio context managers that must be entered and left in
one task, so each session lives in a task of its own: it connects, initializes,
serves calls from any task of the run, and disconnects when the run closes it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from loom.mcp.sdk import sdk
from loom.mcp.servers import connect, label, server_key
from loom.spec.transports import ClientTransport

if TYPE_CHECKING:
    from loom.runtime.context import Run

MEMO_KEY = "loom.mcp.sessions"
STARTUP_TIMEOUT = 60.0  # seconds a server may take to start and initialize, at least
CLOSE_TIMEOUT = 10.0  # seconds a session may take to disconnect before its task is cancelled


class ServerUnavailable(Exception):
    """The server could not be started, reached or initialized."""


class Session:
    """One open session; ``client`` is the SDK's ClientSession."""

    def __init__(self, transport: ClientTransport, owner: Sessions) -> None:
        self.transport = transport
        self.owner = owner
        self.label = label(transport)
        self.client: Any = None
        self.tools: dict[str, Any] | None = None  # the server's tools, listed once
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    async def open(self) -> None:
        self._task = asyncio.create_task(self._own(), name=f"loom {self.label}")
        await self._ready.wait()
        if self.client is None:
            error = self._error
            detail = _explain(error) if error is not None else "it closed at once"
            raise ServerUnavailable(f"cannot open a session with {self.label}: {detail}")

    async def _own(self) -> None:
        mcp, anyio = sdk(), sdk("anyio")
        startup = max(self.transport.read_timeout_seconds, STARTUP_TIMEOUT)
        try:
            async with connect(self.transport) as (read, write), mcp.ClientSession(
                read, write
            ) as client:
                with anyio.fail_after(startup):  # a server may take a while to start
                    await client.initialize()
                self.client = client
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:  # kept for open(); a closing error is of no use
            self._error = exc
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._ready.set()

    def broken(self) -> None:
        """The connection is lost: the run's next call opens a new session."""
        self.owner.drop(self)

    async def close(self) -> None:
        self._stop.set()
        task = self._task
        if task is None or task.done():
            return
        if self.client is None:  # still starting: nothing to close gracefully
            task.cancel()
        try:
            done, _ = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            task.cancel()
            await asyncio.wait({task})


class Sessions:
    """The sessions of one run, by server: opened on first use, closed with the run."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self._closing: list[Session] = []

    @classmethod
    def of(cls, run: Run) -> Sessions:
        sessions = run.memo.get(MEMO_KEY)
        if sessions is None:
            sessions = run.memo[MEMO_KEY] = cls()
            run.closers.append(sessions.close)
        assert isinstance(sessions, Sessions)
        return sessions

    async def get(self, transport: ClientTransport) -> Session:
        key = server_key(transport)
        session = self._sessions.get(key)
        if session is not None:
            return session
        lock = self._opening.setdefault(key, asyncio.Lock())
        async with lock:  # calls that start together share one opening
            session = self._sessions.get(key)
            if session is None:
                session = Session(transport, self)
                try:
                    await session.open()
                except BaseException:
                    await session.close()
                    raise
                self._sessions[key] = session
        return session

    def drop(self, session: Session) -> None:
        """Forget a broken session (its server died): the next call opens a new one."""
        key = server_key(session.transport)
        if self._sessions.get(key) is session:
            del self._sessions[key]
            self._closing.append(session)

    async def close(self) -> None:
        sessions = [*self._sessions.values(), *self._closing]
        self._sessions.clear()
        self._closing.clear()
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)


def _explain(error: BaseException) -> str:
    """The root cause of a failed opening (anyio wraps it in exception groups)."""
    while getattr(error, "exceptions", None):  # an exception group
        error = error.exceptions[0]  # type: ignore[attr-defined]
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
