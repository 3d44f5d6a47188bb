"""The engine's one door to the outside: tools, LLMs, HTTP, MCP, clock, ids, waits on tasks.

The engine is deterministic; what is not (a tool, an LLM answer, the time, a new
id, which of many tasks finishes first) is asked of an :class:`Effects`. This
one is the local side: asyncio, worker threads and the wall clock, exactly as
the engine always ran. A durable backend (``loom.temporal``) gives another one
whose effects are activities and whose clock and ids come from its history.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from loom import mcp
from loom._cache import LruCache
from loom.llm import LlmClient
from loom.stores.base import make_owner

if TYPE_CHECKING:
    from loom.llm import LlmEndpoint, LlmResponse
    from loom.runtime.context import Run, RunContext
    from loom.runtime.engine import FlowOutcome
    from loom.runtime.executors.subflows import MapExecutor
    from loom.runtime.http_call import HttpCall
    from loom.runtime.threads import ToolThreads
    from loom.runtime.tools import BoundTool
    from loom.spec.llms import LlmConfig
    from loom.spec.transports import ClientTransport


class LlmCaller(Protocol):
    """What nodes and agents call an LLM through: an :class:`~loom.llm.LlmClient`, or
    a backend's stand-in with the same ``generate`` and ``endpoint``."""

    @property
    def endpoint(self) -> LlmEndpoint: ...

    async def generate(
        self, messages: Sequence[Mapping[str, Any]], *,
        response_schema: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None, stream: bool = False,
        on_token: Callable[[str], Any] | None = None,
    ) -> LlmResponse: ...


class Effects:
    """The local side: what a Runtime in one process does."""

    #: Sync tools may run on worker threads, several in one hop (the engine's chain).
    threads = True

    def __init__(self, pool: ToolThreads) -> None:
        self.pool = pool
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._endpoint_clients: LruCache[tuple[str, str | None], LlmClient] = LruCache(64)

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def now_ns(self) -> int:
        """Nanoseconds since the epoch (event stamps)."""
        return time.time_ns()

    def new_id(self) -> str:
        return uuid.uuid4().hex

    def owner(self) -> str:
        """Who runs a run here, for the store's lease: ``host:pid:token``."""
        return make_owner()

    def monotonic(self) -> Callable[[], float]:
        """The clock that caches expire by."""
        return time.monotonic

    def semaphore(self, size: int) -> asyncio.Semaphore:
        """The runtime-wide bound on parallel branches, one per event loop."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            for old in [old for old in list(self._semaphores) if old.is_closed()]:
                self._semaphores.pop(old, None)  # other threads' loops may be adding theirs
            semaphore = self._semaphores[loop] = asyncio.Semaphore(size)
        return semaphore

    async def first_failure(self, tasks: Sequence[asyncio.Future[Any]]) -> None:
        """Return when every task is done or one has raised."""
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)

    async def tool(self, bound: BoundTool, arguments: dict[str, Any]) -> Any:
        """Call a ServerTool's function."""
        return await bound.call(self.pool, arguments)

    async def http(self, call: HttpCall, inputs: dict[str, Any]) -> dict[str, Any]:
        """Send an ApiNode's or RemoteTool's request; its outputs."""
        return await call(inputs)

    def mcp_ready(self) -> None:
        """Raise MissingDependency without the ``mcp`` SDK (elsewhere: the workers')."""
        mcp.require_sdk()

    async def mcp(self, run: Run, transport: ClientTransport, who: str,
                  retry: dict[str, Any] | None, tool: str = "", arguments: Any = None) -> Any:
        """Call an MCP ``tool`` (none: list the tools) on the run's session."""
        if not tool:
            return await mcp.list_tools(mcp.Sessions.of(run), transport, who, retry)
        return await mcp.call_tool(mcp.Sessions.of(run), transport, tool, arguments, who, retry)

    async def map_items(self, ctx: RunContext, node: MapExecutor,
                        iterations: list[dict[str, Any]]) -> list[FlowOutcome] | None:
        """The outcomes of a map's iterations run elsewhere, or None: the engine runs them."""
        return None

    def llm(self, config: LlmConfig, endpoint: Callable[[LlmConfig], LlmEndpoint]) -> LlmCaller:
        """The client a config's requests go through; one per endpoint (it learns
        what the server refuses)."""
        where = endpoint(config)
        return self._endpoint_clients.get_or_make(
            (repr(where), where.api_key), lambda: LlmClient(where)
        )
