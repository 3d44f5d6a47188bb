"""``GET /v1/runs/{run_id}/events``: a run's events as Server-Sent Events.

Replayed from the start, or after ``Last-Event-ID`` / ``?after=N``; live while
the run goes on: from memory in the process that runs it, from the store (where
that process writes its events every quarter second) in the others; a comment
line every ``heartbeat`` seconds keeps proxies from dropping a quiet stream; it
ends when the run finishes, fails, is cancelled or waits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from loom.server.api import manager_of
from loom.server.events import EventLog, ends_segment, sse
from loom.server.manager import RunManager
from loom.server.problems import ApiError
from loom.stores.base import StoredEvent

TAIL_SECONDS = 0.2
"""How often a run that another process runs is looked up in the store."""
SETTLE_SECONDS = 2.0
"""How long after a run stopped running its last events may still be on their way."""


def _after(request: Request) -> int:
    text = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    try:
        after = int(text)
    except ValueError:
        after = -1
    if after < 0:
        raise ApiError(422, "invalid_request", f"after (or Last-Event-ID) must be a whole "
                       f"number from 0, not {text!r}", where="after")
    return after


async def events(request: Request) -> Response:
    manager = manager_of(request)
    run_id = request.path_params["run_id"]
    after = _after(request)
    await manager.state(run_id)  # 404 before the stream starts
    return StreamingResponse(
        _stream(manager, run_id, after), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stored(manager: RunManager, run_id: str, after: int) -> list[StoredEvent]:
    if not hasattr(manager.store, "load_events"):
        return []
    found: list[StoredEvent] = await manager.call(manager.store.load_events, run_id, after)
    return found


async def _stream(manager: RunManager, run_id: str, after: int) -> AsyncIterator[str]:
    heartbeat = manager.config.heartbeat
    quiet = time.monotonic()  # since the last line sent
    last: StoredEvent | None = None
    while True:
        log = manager.logs.get(run_id)
        if log is not None:  # live here: what earlier segments stored, then this one
            if after < log.first_seq:
                for item in await _stored(manager, run_id, after):
                    if item[0] > log.first_seq:
                        break
                    after = item[0]
                    yield sse(item)
                after = max(after, log.first_seq)
            async for chunk in _follow(log, after, heartbeat):
                yield chunk
            return
        found = await _stored(manager, run_id, after)
        for item in found:
            yield sse(item)
        if found:
            after, last, quiet = found[-1][0], found[-1], time.monotonic()
            continue  # more may have come meanwhile
        state = await manager.state(run_id)
        if state.status != "running" and (  # its holder writes the last events just after
                (last is not None and ends_segment(last))
                or time.time() - state.updated_at > SETTLE_SECONDS):
            return
        await asyncio.sleep(TAIL_SECONDS)  # running in another process: follow the store
        if time.monotonic() - quiet >= heartbeat:
            quiet = time.monotonic()
            yield ": keep-alive\n\n"


async def _follow(log: EventLog, after: int, heartbeat: float) -> AsyncIterator[str]:
    while True:
        changed = log.changed
        items = log.since(after)
        for item in items:
            yield sse(item)
        if items:
            after = items[-1][0]
            continue
        if log.done:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(changed.wait(), heartbeat)
            continue
        yield ": keep-alive\n\n"


def routes() -> list[BaseRoute]:
    return [Route("/v1/runs/{run_id}/events", events, methods=["GET"])]
