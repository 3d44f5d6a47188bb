"""``loom serve DIR --backend temporal://HOST:PORT/NS``: the runs of the API live in
Temporal, not in this process nor its store.

A run started through the API is a workflow (run id = workflow id) that the
workers of the task queue run; its record comes from the workflow (its view
query while it goes on, its result once it ended), an answer is the
workflow's ``loom.answer`` update (returned once accepted, as locally once the
run is resumed), cancel is Temporal's cancellation, and the event stream
follows the workflow's ``loom.events`` query. Nothing is kept here, so any
number of server processes, restarted at will, serve the same runs.

The run list comes from Temporal's visibility (the loom workflows of the task
queue, newest first): it shows the runs ``loom run --backend`` started on the
same queue too, and needs no store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import IO, Any, cast

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.service import RPCError, RPCStatusCode

from loom.errors import CheckpointError, LoomError
from loom.observability import SpanBuilder, TraceFileWriter
from loom.runs import RunState
from loom.runtime import Runtime
from loom.server.catalog import Catalog, Served
from loom.server.config import ServerConfig
from loom.server.events import sse
from loom.server.manager import POLL_SECONDS, RunManager, check_answers, check_inputs
from loom.server.problems import ApiError, not_found
from loom.server.records import SERVER_KEY, record, summary
from loom.server.stream import _after
from loom.stores import MemoryStore
from loom.stores.base import CANCELLED
from loom.temporal import TemporalBackend, connect
from loom.temporal.eventfeed import EventFeed, components_of
from loom.temporal.names import ANSWER_UPDATE, VIEW_QUERY, WORKFLOW
from loom.temporal.workflow import _RemoteTools

MEMO_KEY = "loom"  # the workflow's memo: {"component", "inputs" (a digest), "metadata"}
QUERY_TIMEOUT = timedelta(seconds=10)
_CLOSED = {
    WorkflowExecutionStatus.CANCELED: "cancelled", WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TERMINATED: "failed", WorkflowExecutionStatus.TIMED_OUT: "failed",
}


def build_runtime(config: ServerConfig) -> Runtime:
    """A runtime whose runs go to Temporal: every ServerTool counts as bound (the
    workers bind them), so a config is still checked in full when the server starts."""
    assert config.backend is not None
    runtime = Runtime(
        registry=dict(config.registry), store=MemoryStore(),
        max_concurrency=config.max_concurrency,
        allowed_components=list(config.allowed_components) or None,
        blocked_components=list(config.blocked_components) or None,
        backend=TemporalBackend(config.backend, config.task_queue, claim_check=config.claim_check),
    )
    runtime.services.tools = _RemoteTools()
    return runtime


def digest(inputs: Any) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


class TemporalRunManager(RunManager):
    """The RunManager of a server whose runs live in Temporal (see the module)."""

    def __init__(self, runtime: Runtime, catalog: Catalog, config: ServerConfig) -> None:
        super().__init__(runtime, catalog, config)
        assert isinstance(runtime.backend, TemporalBackend)
        self.backend: TemporalBackend = runtime.backend
        self._client: Client | None = None

    async def client(self) -> Client:
        if self._client is None:
            try:
                self._client = await connect(self.backend.target, self.backend.namespace,
                                             claim_check=self.backend.claim_check)
            except RuntimeError as exc:
                raise ApiError(503, "backend_unavailable", f"cannot reach Temporal at "
                               f"{self.backend.target}: {exc}") from None
        return self._client

    async def _handle(self, run_id: str) -> tuple[WorkflowHandle[Any, Any],
                                                  WorkflowExecutionDescription]:
        handle: WorkflowHandle[Any, Any] = (await self.client()).get_workflow_handle(run_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise not_found("run", run_id) from None
            raise
        if description.workflow_type != WORKFLOW:
            raise not_found("run", run_id)
        return handle, description

    # -- records ------------------------------------------------------------------------

    async def state(self, run_id: str) -> RunState:
        """The run as a RunState (no journal: Temporal's history is that)."""
        handle, description = await self._handle(run_id)
        return await self._state(handle, description)

    async def _state(self, handle: WorkflowHandle[Any, Any],
                     description: WorkflowExecutionDescription) -> RunState:
        memo = (await description.memo()).get(MEMO_KEY) or {}
        component = memo.get("component")
        view = await self._view(handle, description, component)
        started = description.start_time.timestamp() if description.start_time else 0.0
        ended = description.close_time.timestamp() if description.close_time else time.time()
        return RunState(
            run_id=handle.id, status=view["status"], flow={}, digest="",
            outputs=dict(view.get("outputs") or {}), messages=list(view.get("messages") or []),
            pending=[{**item, "key": ""} for item in view.get("pending") or ()],
            error=view.get("error"), created_at=started, updated_at=ended,
            metadata={**(memo.get("metadata") or {}), SERVER_KEY: {"component": component}},
        )

    async def _view(self, handle: WorkflowHandle[Any, Any],
                    description: WorkflowExecutionDescription,
                    component: str | None) -> dict[str, Any]:
        status = description.status
        if status == WorkflowExecutionStatus.RUNNING:
            try:
                view: dict[str, Any] = await handle.query(VIEW_QUERY, rpc_timeout=QUERY_TIMEOUT)
            except (RPCError, WorkflowQueryFailedError):
                return {"status": "running"}  # no worker answers yet: it has not settled
            return view
        if status == WorkflowExecutionStatus.COMPLETED:
            ended: dict[str, Any] = await handle.result()
            return ended
        message = CANCELLED
        if status != WorkflowExecutionStatus.CANCELED:
            try:
                await handle.result()
                message = "the workflow ended"
            except WorkflowFailureError as failure:
                message = str(getattr(failure.cause, "message", None) or failure.cause)
        served = self.catalog.get(component or "")
        node = served.flow.name if served is not None else ""
        return {"status": _CLOSED.get(status, "failed") if status else "failed",
                "error": {"node": node, "message": message}}

    async def record(self, run_id: str) -> dict[str, Any]:
        return record(await self.state(run_id))

    # -- starting, answering, cancelling ----------------------------------------------

    async def start(self, served: Served, inputs: Any, run_id: str | None,
                    metadata: Any, token: str, history: list[dict[str, Any]] | None = None
                    ) -> tuple[dict[str, Any], bool]:
        """Start the run's workflow: (its record, whether it is new)."""
        if self.closing:
            raise ApiError(503, "shutting_down", "the server is shutting down")
        if history:
            raise ApiError(422, "unsupported", "earlier chat turns are not carried to runs on "
                           "Temporal yet: send the last message only, or serve without "
                           "--backend", where="messages")
        inputs = check_inputs(served, inputs)
        if not isinstance(metadata, dict | None):
            raise ApiError(422, "invalid_request", "metadata must be a JSON object",
                           where="metadata")
        run_id = run_id or uuid.uuid4().hex
        memo = {MEMO_KEY: {"component": served.id, "inputs": digest(inputs),
                           "metadata": metadata or {}}}
        services = self.runtime.services
        limits = {"max_concurrency": services.max_concurrency, "max_steps": services.max_steps,
                  "branch_timeout": services.branch_timeout,
                  "max_iterations": services.max_iterations}
        try:
            await self.backend.astart(served.component, inputs, run_id=run_id, limits=limits,
                                      memo=memo, client=await self.client(), once=True)
        except CheckpointError:  # that id is taken: the same run asked again, or a conflict
            handle, description = await self._handle(run_id)
            known = (await description.memo()).get(MEMO_KEY) or {}
            if known.get("component") != served.id or known.get("inputs") != digest(inputs):
                raise ApiError(409, "conflict", f"a run with id '{run_id}' exists with another "
                               "component or other inputs", where="run_id") from None
            return record(await self._state(handle, description)), False
        except LoomError as exc:
            raise ApiError.of(422, "invalid_component", exc, where=served.id) from None
        return await self.record(run_id), True

    async def answer(self, run_id: str, answers: Any, token: str) -> dict[str, Any]:
        if not isinstance(answers, dict) or not answers:
            raise ApiError(422, "invalid_request", 'answers must be a non-empty JSON object '
                           '{"<request id>": answer}', where="answers")
        handle, description = await self._handle(run_id)
        check_answers(await self._state(handle, description), answers)
        try:  # accepted is enough: the run goes on in Temporal
            await handle.start_update(ANSWER_UPDATE, answers,
                                      wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        except WorkflowUpdateFailedError as exc:  # answered by another request just now
            raise ApiError(409, "not_pending", str(getattr(exc.cause, "message", exc.cause))
                           ) from None
        return await self.record(run_id)

    async def cancel(self, run_id: str, wait: float | None = None) -> dict[str, Any]:
        handle, description = await self._handle(run_id)
        if description.status == WorkflowExecutionStatus.RUNNING:
            await handle.cancel()
            with contextlib.suppress(WorkflowFailureError, asyncio.TimeoutError):
                await asyncio.wait_for(handle.result(), 5.0 if wait is None else wait)
        return await self.record(run_id)

    async def delete(self, run_id: str) -> None:
        handle, description = await self._handle(run_id)
        if description.status == WorkflowExecutionStatus.RUNNING:
            raise ApiError(409, "running", f"run '{run_id}' is running in Temporal; "
                           "cancel it first")
        client = await self.client()
        await client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
            namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=run_id)))

    async def wait(self, run_id: str, seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            data = await self.record(run_id)
            left = deadline - time.monotonic()
            if data["status"] != "running" or left <= 0:
                return data
            await asyncio.sleep(min(POLL_SECONDS, left))

    async def listing(self, status: str | None, component: str | None, cursor: str | None,
                      limit: int) -> dict[str, Any]:
        client = await self.client()
        query = f'WorkflowType = "{WORKFLOW}" AND TaskQueue = "{self.backend.task_queue}"'
        page: list[dict[str, Any]] = []
        skipping = cursor is not None
        next_cursor = None
        async for execution in client.list_workflows(query):
            if skipping:
                skipping = execution.id != cursor
                continue
            memo = (await execution.memo()).get(MEMO_KEY) or {}
            if component and memo.get("component") != component:
                continue
            handle = client.get_workflow_handle(execution.id)
            try:
                state = await self._state(handle, await handle.describe())
            except (RPCError, WorkflowFailureError):
                continue  # deleted meanwhile
            if status and state.status != status:
                continue
            if len(page) == limit:
                next_cursor = page[-1]["run_id"]
                break
            page.append(summary(state))
        if skipping:
            raise ApiError(422, "invalid_cursor", f"cursor '{cursor}' names no run",
                           where="cursor")
        return {"data": page, "next_cursor": next_cursor}

    # -- start and shutdown --------------------------------------------------------------

    async def recover(self) -> None:
        """Nothing to take over: the runs go on in Temporal. Fail now if it is out of reach."""
        try:
            await self.client()
        except ApiError as exc:
            raise LoomError(exc.message, hint="start Temporal, or fix --backend") from None
        self.ready = True

    async def close(self) -> None:
        self.closing = True


class _Lines:
    """Where a TraceFileWriter writes: the lines of one event stream, by type."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def write(self, line: str) -> None:
        start = len('{"type":"')
        self.items.append((line[start:line.index('"', start)], line.rstrip("\n")))

    def flush(self) -> None:
        pass


async def events(request: Request) -> Response:
    """``GET /v1/runs/{run_id}/events`` for runs in Temporal: the lines of the run's
    events from its start, numbered, after ``Last-Event-ID`` / ``?after=N``."""
    manager: TemporalRunManager = request.app.state.loom
    run_id = request.path_params["run_id"]
    after = _after(request)
    handle, description = await manager._handle(run_id)  # 404 before the stream starts
    memo = (await description.memo()).get(MEMO_KEY) or {}
    served = manager.catalog.get(memo.get("component") or "")
    return StreamingResponse(
        _stream(manager, handle, served, after), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(manager: TemporalRunManager, handle: WorkflowHandle[Any, Any],
                  served: Served | None, after: int) -> AsyncIterator[str]:
    """Every event is read again from the run's first, so the span ids and the line
    numbers are the same on each request (and in each server process)."""
    key = manager.runtime.llm_overrides.get("api_key")
    lines = _Lines()
    builder = SpanBuilder([TraceFileWriter(cast(IO[str], lines))], mask_sensitive=False,
                          secrets=[key] if key else [])
    feed = EventFeed(handle, [builder],
                     components_of(served.component) if served is not None else None)
    number, quiet = 0, 0.0
    while True:
        # Asked before reading: once it has settled, what is read next is all there is.
        settled = (await manager.state(handle.id)).status != "running"
        with contextlib.suppress(RPCError, WorkflowQueryFailedError):
            await feed.read()
        if settled:
            builder.shutdown()  # spans cut short (a cancelled run's) get their closing line
        for kind, line in lines.items:
            number += 1
            if number > after:
                yield sse((number, kind, line))
        quiet = 0.0 if lines.items else quiet + POLL_SECONDS
        lines.items.clear()
        if settled:
            return
        await asyncio.sleep(POLL_SECONDS)
        if quiet >= manager.config.heartbeat:
            quiet = 0.0
            yield ": keep-alive\n\n"


def routes() -> list[BaseRoute]:
    return [Route("/v1/runs/{run_id}/events", events, methods=["GET"])]
