"""The runs of one server process: it owns their background tasks, claims each
run in the store before it runs it, and on start takes over the runs whose
process died (resumed with checkpoint=nodes, marked failed otherwise), so no
run stays ``running`` for ever. Other processes on the store reach its runs
through the store: cancel requests, live events (:mod:`loom.server.sharing`)
and the per-token count of runs going on."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from loom.errors import CheckpointError, LoomError, RunNotFound, RunTakenOver, describe
from loom.runs import RunState, RunStatus
from loom.runtime import Runtime
from loom.runtime.journal import PendingRequest
from loom.runtime.values import refusal
from loom.server.answers import misfit
from loom.server.catalog import Catalog, Served
from loom.server.config import ServerConfig
from loom.server.events import EventLog
from loom.server.problems import ApiError, not_found
from loom.server.records import SERVER_KEY, record, server_meta, summary
from loom.server.sharing import Sharing
from loom.stores import MemoryStore
from loom.stores.base import CANCELLED, StoredEvent, cancel_once, end_state, make_owner

T = TypeVar("T")
POLL_SECONDS = 0.25
CANCEL_WAIT = 5.0
"""How long a cancel of a run another process runs waits for it to end (then 202)."""
DIED = ("the server running it stopped before it ended, and it was checkpointed only at "
        "waits (checkpoint=waits), so it cannot go on; start it again")


class RunManager:
    def __init__(self, runtime: Runtime, catalog: Catalog, config: ServerConfig) -> None:
        self.runtime = runtime
        self.store: Any = runtime.store
        self.catalog = catalog
        self.config = config
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.logs: dict[str, EventLog] = {}
        self.live_per_token: Counter[str] = Counter()
        self._cancelling: set[str] = set()
        self.closing = False
        self.ready = False
        self.sharing = Sharing(self.store, self.call, self.logs, self.tasks, self._cancel_here,
                               config.events_kept, live=not isinstance(self.store, MemoryStore))

    # -- store calls (in a thread: the store blocks) ----------------------------------

    async def call(self, method: Callable[..., T], *args: Any) -> T:
        if isinstance(self.store, MemoryStore):
            return method(*args)
        return await asyncio.to_thread(method, *args)

    async def record(self, run_id: str) -> dict[str, Any]:
        """The run's record; one this process is resuming is ``running`` already."""
        data = record(await self.state(run_id))
        if run_id in self.tasks and data["status"] == "waiting":
            data = {**data, "status": "running", "error": None}
            data.pop("pending", None)
        return data

    async def state(self, run_id: str) -> RunState:
        try:
            return await self.call(self.store.load, run_id)
        except RunNotFound:
            raise not_found("run", run_id) from None
        except CheckpointError as exc:
            raise ApiError.of(500, "store_error", exc, where=run_id) from None

    # -- starting, answering, cancelling ---------------------------------------------

    async def start(self, served: Served, inputs: Any, run_id: str | None,
                    metadata: Any, token: str, history: list[dict[str, Any]] | None = None
                    ) -> tuple[dict[str, Any], bool]:
        """Start a run in the background: (its record, whether it is new); ``history``:
        the messages said before it (a chat's earlier turns)."""
        inputs = check_inputs(served, inputs)
        if metadata is not None and not isinstance(metadata, dict):
            raise ApiError(422, "invalid_request", "metadata must be a JSON object",
                           where="metadata")
        if run_id is not None:
            existing = await self._existing(run_id, served, inputs)
            if existing is not None:
                return existing, False
        self._admit(token)
        owner = make_owner()
        meta = {**(metadata or {}), SERVER_KEY: {"component": served.id,
                                                 "checkpoint": self.config.checkpoint}}
        try:
            state = self.runtime.new_state(served.flow, inputs, run_id=run_id, metadata=meta,
                                           history=history)
        except LoomError as exc:
            raise ApiError.of(422, "invalid_component", exc, where=served.id) from None
        state.owner = owner  # held by this process from its first save
        try:
            await self.call(self.store.save, state)
        except RunTakenOver:  # another process started the same run id just now
            assert run_id is not None
            existing = await self._existing(run_id, served, inputs)
            if existing is not None:
                return existing, False
            raise ApiError(409, "conflict", f"run '{run_id}' is being started elsewhere") from None
        if not await self._book(state.run_id, owner, token):
            await self.call(self.store.delete, state.run_id, owner)
            raise self._too_many()
        self._spawn(state.run_id, None, token, owner, 0)
        return record(state), True

    async def _existing(self, run_id: str, served: Served,
                        inputs: dict[str, Any]) -> dict[str, Any] | None:
        try:
            state = await self.call(self.store.load, run_id)
        except RunNotFound:
            return None
        if server_meta(state).get("component") != served.id or state.inputs != inputs:
            raise ApiError(409, "conflict", f"a run with id '{run_id}' exists with another "
                           "component or other inputs", where="run_id")
        return record(state)

    async def answer(self, run_id: str, answers: Any, token: str) -> dict[str, Any]:
        if not isinstance(answers, dict) or not answers:
            raise ApiError(422, "invalid_request", 'answers must be a non-empty JSON object '
                           '{"<request id>": answer}', where="answers")
        if run_id in self.tasks:
            raise ApiError(409, "not_waiting", f"run '{run_id}' is running, not waiting")
        check_answers(await self.state(run_id), answers)
        self._admit(token)
        owner, claimed = await self._claim(run_id)
        try:
            left = {item["id"] for item in claimed.pending}
            if claimed.status != "waiting" or not set(answers) <= left:  # answered meanwhile
                raise ApiError(409, "not_pending", f"run '{run_id}' was answered by another "
                               "request just now; see its record")
            if not await self._book(run_id, owner, token):
                raise self._too_many()
            seq = await self._last_seq(run_id)
        except BaseException:
            await self.call(self.store.release, run_id, owner)
            raise
        self._spawn(run_id, answers, token, owner, seq)
        return await self.record(run_id)

    async def cancel(self, run_id: str, wait: float | None = None) -> dict[str, Any]:
        """Cancel a run wherever it runs; idempotent (a run that ended stays as it
        ended). Here: through its task. A run no live process holds (waiting, or
        left by a process that died) is marked cancelled at once. One that another
        process runs is asked to cancel through the store; its holder cancels it at
        its next look, and its record comes back once it ended, or after ``wait``
        seconds (:data:`CANCEL_WAIT`) still ``running``."""
        deadline = time.monotonic() + (CANCEL_WAIT if wait is None else wait)
        while True:
            task = self.tasks.get(run_id)
            if task is not None:
                self._cancel_here(run_id)
                with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), 5.0)
                return await self.record(run_id)
            try:
                ended = await self.call(cancel_once, self.store, run_id)
            except RunNotFound:
                raise not_found("run", run_id) from None
            except CheckpointError as exc:
                raise ApiError.of(409, "held", exc, where=run_id) from None
            if ended is not None or time.monotonic() >= deadline:
                return await self.record(run_id)
            await asyncio.sleep(0.1)

    def _cancel_here(self, run_id: str) -> None:
        task = self.tasks.get(run_id)
        if task is not None and run_id not in self._cancelling:
            self._cancelling.add(run_id)
            task.cancel()

    async def delete(self, run_id: str) -> None:
        if run_id in self.tasks:
            raise ApiError(409, "running", f"run '{run_id}' is running; cancel it first")
        state = await self.state(run_id)
        if not await self.call(self.store.delete, run_id, make_owner()):
            raise ApiError(409, "running", f"run '{run_id}' is {state.status} in another "
                           "server process; cancel it first")

    async def wait(self, run_id: str, seconds: float) -> dict[str, Any]:
        """The record once the run stops running (waits or ends), or after ``seconds``."""
        deadline = time.monotonic() + seconds
        task = self.tasks.get(run_id)
        if task is not None:
            await asyncio.wait({task}, timeout=seconds)
        state = await self.state(run_id)
        while state.status == "running" and run_id not in self.tasks:
            left = deadline - time.monotonic()  # running in another process: poll
            if left <= 0:
                break
            await asyncio.sleep(min(POLL_SECONDS, left))
            state = await self.state(run_id)
        return await self.record(run_id)

    async def listing(self, status: str | None, component: str | None, cursor: str | None,
                      limit: int) -> dict[str, Any]:
        runs = await self.call(self.store.list)
        if cursor is not None:
            ids = [run.run_id for run in runs]
            if cursor not in ids:
                raise ApiError(422, "invalid_cursor", f"cursor '{cursor}' names no run",
                               where="cursor")
            runs = runs[ids.index(cursor) + 1:]
        page: list[dict[str, Any]] = []
        next_cursor = None
        for run in runs:
            if status and run.status != status:
                continue
            if len(page) == limit:
                next_cursor = page[-1]["run_id"]
                break
            try:
                state = await self.call(self.store.load, run.run_id)
            except CheckpointError:
                continue  # deleted meanwhile, or corrupt: `loom runs` shows it
            if component and server_meta(state).get("component") != component:
                continue
            page.append(summary(state))
        return {"data": page, "next_cursor": next_cursor}

    # -- the background tasks ---------------------------------------------------------

    def _admit(self, token: str) -> None:
        if self.closing:
            raise ApiError(503, "shutting_down", "the server is shutting down")
        if self.live_per_token[token] >= self.config.runs_per_token:  # this process alone
            raise self._too_many()

    def _too_many(self) -> ApiError:
        return ApiError(429, "too_many_runs", f"at most {self.config.runs_per_token} runs "
                        "may go on at once per token; wait for one to end",
                        headers={"Retry-After": "1"})

    async def _book(self, run_id: str, owner: str, token: str) -> bool:
        """Count a run this process now holds against its token, over every process
        on the store: False when that makes one too many (the caller lets it go).

        The store keeps the token's fingerprint (``token`` is one: see
        :func:`loom.server.http.fingerprint`) with the run; this tags the run, then
        counts the held runs so tagged. No lock is taken, and no more runs than the
        limit can go on: of runs booked at once, the one counted last sees them all
        and backs out when over. Two booked at once may both back out though (each
        sees the other); the client is told to retry (429, Retry-After). The runs of a
        process that died stop counting at once on its host, elsewhere once their
        lease expires or a server takes them over."""
        if not hasattr(self.store, "book"):
            return True
        booked: bool = await self.call(self.store.book, run_id, owner, token,
                                       self.config.runs_per_token)
        return booked

    async def _claim(self, run_id: str) -> tuple[str, RunState]:
        """Hold the run for this process: (the owner id, the state as claimed)."""
        owner = make_owner()
        try:
            state = await self.call(self.store.claim, run_id, owner)
        except RunNotFound:
            raise not_found("run", run_id) from None
        except CheckpointError as exc:
            raise ApiError.of(409, "held", exc, where=run_id) from None
        return owner, state

    async def _last_seq(self, run_id: str) -> int:
        if not hasattr(self.store, "load_events"):
            return 0
        events: list[StoredEvent] = await self.call(self.store.load_events, run_id, 0)
        return events[-1][0] if events else 0

    def _spawn(self, run_id: str, answers: Mapping[str, Any] | None, token: str, owner: str,
               first_seq: int) -> None:
        key = self.runtime.llm_overrides.get("api_key")
        log = EventLog(run_id, first_seq, [key] if key else [],
                       nudge=self.sharing.nudge if self.sharing.live else None)
        self.logs[run_id] = log
        self.live_per_token[token] += 1
        task = asyncio.create_task(self._drive(run_id, answers, owner, log))
        self.tasks[run_id] = task

        def done(_: asyncio.Task[None]) -> None:
            self.tasks.pop(run_id, None)
            self.logs.pop(run_id, None)
            self._cancelling.discard(run_id)
            self.live_per_token[token] -= 1
            if self.live_per_token[token] <= 0:
                del self.live_per_token[token]

        task.add_done_callback(done)

    async def _drive(self, run_id: str, answers: Mapping[str, Any] | None, owner: str,
                     log: EventLog) -> None:
        try:
            await self.runtime.aresume(run_id, answers, listeners=[log], owner=owner)
        except asyncio.CancelledError:
            if run_id in self._cancelling:  # asked by a client; on shutdown it stays running
                await self._end(run_id, None, "cancelled", CANCELLED)
        except RunTakenOver:
            pass  # another process goes on with it
        except Exception as exc:  # a broken store, a flow that no longer loads
            with contextlib.suppress(Exception):
                state = await self.call(self.store.load, run_id)
                if state.status in ("running", "waiting"):  # never a run that ended
                    await self._end(run_id, None, "failed", describe(exc))
        finally:
            log.close()
            await self._keep_events(log)

    async def _keep_events(self, log: EventLog) -> None:
        with contextlib.suppress(Exception):
            await self.sharing.flush([log])

    async def _end(self, run_id: str, owner: str | None, status: RunStatus, message: str) -> None:
        """Mark a run cancelled or failed (``owner``: this process's claim on it)."""
        state = await self.call(self.store.load, run_id)
        end_state(state, status, message, owner)
        await self.call(self.store.save, state)

    # -- start and shutdown -----------------------------------------------------------

    async def recover(self) -> None:
        """Take over the runs left ``running`` by a process that died."""
        runs = await self.call(self.store.list)
        for run in runs:
            if run.status != "running" or run.run_id in self.tasks:
                continue
            owner = make_owner()
            try:
                state = await self.call(self.store.claim, run.run_id, owner)
            except CheckpointError:
                continue  # held by a live process, or gone
            meta = server_meta(state)
            if meta.get("checkpoint") == "nodes" and meta.get("component"):
                seq = await self._last_seq(run.run_id)
                self._spawn(run.run_id, None, "", owner, seq)
            else:
                await self._end(run.run_id, owner, "failed", DIED)
        self.sharing.start()
        self.ready = True

    async def close(self) -> None:
        """Stop taking runs, let those going on end (up to ``drain_seconds``), then
        stop the rest: they stay ``running`` in the store for the next start."""
        self.closing = True
        tasks = list(self.tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=self.config.drain_seconds)
        for task in list(self.tasks.values()):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks.values()), timeout=5.0)
        await self.sharing.close()


def check_inputs(served: Served, inputs: Any) -> dict[str, Any]:
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise ApiError(422, "invalid_inputs", "inputs must be a JSON object", where="inputs")
    declared = {prop.title: prop for prop in served.flow.inputs or []}
    for name in inputs:
        if name not in declared:
            raise ApiError(422, "invalid_inputs", f"component '{served.id}' has no input "
                           f"'{name}'; its inputs are {sorted(declared)}", where=f"inputs.{name}")
    for name, prop in declared.items():
        if name not in inputs:
            if not prop.has_default:
                raise ApiError(422, "invalid_inputs", f"component '{served.id}' needs input "
                               f"'{name}', which was not given", where=f"inputs.{name}")
            continue
        why = refusal(name, prop.json_schema, inputs[name])
        if why:
            raise ApiError(422, "invalid_inputs", f"component '{served.id}': {why}",
                           where=f"inputs.{name}")
    return inputs


def check_answers(state: RunState, answers: Mapping[str, Any]) -> None:
    """Refuse answers to a run that does not wait, or that do not fit its requests."""
    run_id = state.run_id
    if state.status != "waiting":
        raise ApiError(409, "not_waiting", f"run '{run_id}' is {state.status}, not waiting")
    pending = {item["id"]: PendingRequest.from_state(item) for item in state.pending}
    for request_id, value in answers.items():
        request = pending.get(request_id)
        if request is None:
            raise ApiError(409, "not_pending", f"run '{run_id}' has no pending request "
                           f"'{request_id}' (answered already?); its pending requests "
                           f"are {sorted(pending)}", where=f"answers.{request_id}")
        why = misfit(request.answer_schema(), value, "the answer")
        if why:
            raise ApiError(422, "invalid_answer", f"request '{request_id}' ({request.kind} "
                           f"at {request.node}): {why} (see its answer_schema)",
                           where=f"answers.{request_id}")

