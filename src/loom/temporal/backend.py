"""The client side: ``Runtime(backend=TemporalBackend("temporal://HOST:PORT/NS"))``.

A run is a workflow whose id is the run id. Starting it returns once the run
has settled (finished, failed, or waiting for answers); resuming sends the
answers as an update and returns the next settled state, as a local run does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import CancelledError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from loom.errors import CheckpointError, LoomError, RunNotFound
from loom.runtime.events import Listener
from loom.runtime.journal import PendingRequest
from loom.runtime.result import ErrorInfo, RunResult
from loom.serialization import dumps
from loom.spec.component import Component
from loom.temporal.claim_check import ClaimCheckStore, open_claim_check
from loom.temporal.continuation import CONTINUED
from loom.temporal.converter import connect
from loom.temporal.eventfeed import EventFeed, components_of
from loom.temporal.names import (
    ANSWER_UPDATE,
    CONTINUING,
    DEFAULT_TASK_QUEUE,
    INFRA_ATTEMPTS,
    SETTLE_UPDATE,
    VIEW_QUERY,
    WORKFLOW,
    too_large,
)

SCHEME = "temporal://"
ALLOW_DUPLICATE = WorkflowIDReusePolicy.ALLOW_DUPLICATE
REJECT_DUPLICATE = WorkflowIDReusePolicy.REJECT_DUPLICATE
_ENDED = {  # a closed workflow's status, as a run's
    WorkflowExecutionStatus.COMPLETED: "finished", WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled", WorkflowExecutionStatus.TERMINATED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
}


def parse_backend(url: str) -> tuple[str, str]:
    """``temporal://HOST:PORT[/NAMESPACE]`` -> (``HOST:PORT``, namespace)."""
    parts = urlsplit(url)
    if parts.scheme != "temporal" or not parts.hostname or parts.port is None:
        raise LoomError(
            f"backend {url!r} is not a Temporal address",
            hint="write it temporal://HOST:PORT/NAMESPACE, e.g. temporal://127.0.0.1:7233/default",
        )
    return f"{parts.hostname}:{parts.port}", parts.path.strip("/") or "default"


class TemporalBackend:
    """Runs flows as workflows on a Temporal server (workers: ``loom worker``)."""

    def __init__(
        self, url: str, task_queue: str = DEFAULT_TASK_QUEUE, *, tool_timeout: float = 300.0,
        tool_attempts: int = INFRA_ATTEMPTS,
        claim_check: str | ClaimCheckStore | None = None, continue_after: int | None = None,
        map_batch: int | None = None,
    ) -> None:
        self.target, self.namespace = parse_backend(url)
        self.url = url
        self.task_queue = task_queue
        self.tool_timeout = tool_timeout  # per attempt: a lost worker's call moves on after it
        self.tool_attempts = tool_attempts  # in all, for a ServerTool call (lost worker, timeout)
        if tool_timeout <= 0 or tool_attempts < 1:
            raise LoomError(f"TemporalBackend: tool_timeout={tool_timeout!r} and "
                            f"tool_attempts={tool_attempts!r}",
                            hint="give a timeout above 0 seconds and at least 1 attempt")
        # Values over 256 KiB go there (file:///dir or postgresql://...), the workers' store.
        self.claim_check = open_claim_check(claim_check) if isinstance(claim_check, str) \
            else claim_check
        # History events after which a run continues as new (None: the workflow's default).
        self.continue_after = continue_after
        # Items per child workflow of a large map (None: the workflow's default, 500).
        self.map_batch = map_batch

    async def _client(self) -> Client:
        # Connected per call: a blocking Runtime.run runs each call on a loop of its own.
        try:
            return await connect(self.target, self.namespace, claim_check=self.claim_check)
        except RuntimeError as exc:
            raise LoomError(f"cannot reach Temporal at {self.target}: {exc}",
                              hint="start the server, or fix --backend") from None

    async def areachable(self) -> None:
        """Raise a LoomError saying what to fix when the server cannot be reached."""
        await self._client()

    async def arun(
        self, component: Component, inputs: Mapping[str, Any], *, run_id: str | None,
        limits: Mapping[str, Any], listeners: Iterable[Listener] = (),
    ) -> RunResult:
        handle = await self.astart(component, inputs, run_id=run_id, limits=limits)
        listeners = list(listeners)
        if not listeners:
            return _result(await _settled(handle, 0))
        feed = EventFeed(handle, listeners, components_of(component))
        return _result(await feed.follow(_settled(handle, 0)))

    async def astart(
        self, component: Component, inputs: Mapping[str, Any], *, run_id: str | None,
        limits: Mapping[str, Any], memo: Mapping[str, Any] | None = None,
        client: Client | None = None, once: bool = False,
    ) -> WorkflowHandle[Any, Any]:
        """Start the run's workflow and return at once; ``once``: never reuse the id of
        a run that ended (a server's run ids name one run for good)."""
        client = client or await self._client()
        start = {"flow": dumps(component), "inputs": dict(inputs), "task_queue": self.task_queue,
                 "tool_timeout": self.tool_timeout, "tool_attempts": self.tool_attempts,
                 **limits}
        if self.claim_check is not None:
            start["large_values"] = True
        if self.continue_after is not None:
            start["continue_after"] = self.continue_after
        if self.map_batch is not None:
            start["map_batch"] = self.map_batch
        workflow_id = run_id or uuid.uuid4().hex
        problem = None if self.claim_check is not None else too_large(
            start, "the run (its flow and inputs)")
        if problem is not None:
            raise LoomError(problem)
        try:
            await client.start_workflow(
                WORKFLOW, start, id=workflow_id, task_queue=self.task_queue, memo=memo,
                id_reuse_policy=REJECT_DUPLICATE if once else ALLOW_DUPLICATE,
            )
        except (RPCError, WorkflowAlreadyStartedError) as exc:
            if isinstance(exc, RPCError) and exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
            raise CheckpointError(f"a run with id '{workflow_id}' already exists in "
                                  f"Temporal ({self.url})", hint="choose another id") from None
        # By id alone: the run may continue as new, and this handle follows its chain.
        return client.get_workflow_handle(workflow_id)

    async def aresume(self, run_id: str, answers: Mapping[str, Any],
                      listeners: Iterable[Listener] = ()) -> RunResult:
        """Answer a waiting run; ``listeners`` get its events from the answer on,
        numbered on from those before the wait."""
        client = await self._client()
        handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(run_id)
        listeners = list(listeners)
        try:
            update = _answer(handle, dict(answers))
            if listeners:
                feed = EventFeed(handle, listeners)
                await feed.latest()
                view = await feed.follow(update)
            else:
                view = await update
        except WorkflowUpdateFailedError as exc:
            raise CheckpointError(str(getattr(exc.cause, "message", exc.cause))) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                view = await _closed(handle, run_id)
                raise CheckpointError(f"run '{run_id}' already {view['status']}; there is "
                                      "nothing to resume") from None
            raise
        return _result(view)


    async def acancel(self, run_id: str, wait: float = 30.0) -> str:
        """Cancel a run as a local run is cancelled: its branches and calls in flight
        are cancelled, and no CatchExceptionNode catches it. Returns the run's status
        once it has ended (``cancelled``, or how it had ended already), or ``running``
        when it has not ended within ``wait`` seconds."""
        client = await self._client()
        handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(run_id)
        try:
            status = (await handle.describe()).status
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise RunNotFound(f"no run '{run_id}' in Temporal") from None
            raise
        if status not in _ENDED:
            await handle.cancel()
            try:
                await asyncio.wait_for(handle.result(), wait)
            except WorkflowFailureError:
                pass  # cancelled: that was asked
            except asyncio.TimeoutError:
                return "running"
            status = (await handle.describe()).status
        if status == WorkflowExecutionStatus.COMPLETED:  # finished (or failed) before
            return str((await _closed(handle, run_id))["status"])
        return _ENDED.get(status, "running") if status is not None else "running"

    async def aview(self, run_id: str) -> RunResult:
        """Where a run stands now (its pending requests, if it waits)."""
        client = await self._client()
        return _result(await _closed(client.get_workflow_handle(run_id), run_id))


async def _answer(handle: WorkflowHandle[Any, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """Send answers; a run that continues as new meanwhile refuses them (send again)
    or answers ``continued`` (its next run settles)."""
    for attempt in range(200):
        try:
            view: dict[str, Any] = await handle.execute_update(ANSWER_UPDATE, answers)
        except WorkflowUpdateFailedError as exc:
            if getattr(exc.cause, "message", None) != CONTINUING or attempt == 199:
                raise
            await asyncio.sleep(0.05)
            continue
        if view["status"] == CONTINUED:
            return await _settled(handle, view["generation"])
        return view
    raise AssertionError("unreachable")


async def _settled(handle: WorkflowHandle[Any, Any], after: int) -> dict[str, Any]:
    """The run's view once it has settled more than ``after`` times, following the
    chain of runs it continues as new in (``handle`` names no run id)."""
    while True:
        view = await _settled_once(handle, after)
        if view.get("status") != CONTINUED:
            return view
        await asyncio.sleep(0.02)  # the next run may not have started yet


async def _settled_once(handle: WorkflowHandle[Any, Any], after: int) -> dict[str, Any]:
    try:
        view: dict[str, Any] = await handle.execute_update(SETTLE_UPDATE, after)
    except (RPCError, WorkflowUpdateFailedError) as exc:
        if isinstance(exc, RPCError) and exc.status != RPCStatusCode.NOT_FOUND:
            raise  # else it ended (finished, or failed) before the update was answered
        try:
            view = await handle.result()
        except WorkflowFailureError as failure:
            cause = failure.cause
            if isinstance(cause, CancelledError):
                raise LoomError(f"run '{handle.id}' was cancelled in Temporal") from None
            message = getattr(cause, "message", None) or str(cause)
            raise LoomError(f"the run failed in Temporal: {message}") from None
    return view


async def _closed(handle: WorkflowHandle[Any, Any], run_id: str) -> dict[str, Any]:
    try:
        view: dict[str, Any] = await handle.query(VIEW_QUERY)
        if view["status"] in ("waiting", "running"):  # unless the workflow ended otherwise
            status = (await handle.describe()).status
            if status in _ENDED and status != WorkflowExecutionStatus.COMPLETED:
                view = {**view, "status": _ENDED[status], "pending": []}
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise RunNotFound(f"no run '{run_id}' in Temporal") from None
        raise
    return view


def _result(view: Mapping[str, Any]) -> RunResult:
    error = view.get("error")
    return RunResult(
        view["status"], dict(view.get("outputs") or {}), list(view.get("messages") or []),
        ErrorInfo(error["node"], error["message"]) if error else None,
        branch=view.get("branch"), run_id=view.get("run_id"),
        pending=[PendingRequest(id=item["id"], kind=item["kind"], node=item["node"], key="",
                                prompt=item.get("prompt"), tool_call=item.get("tool_call"),
                                result_schema=_result_schema(item))
                 for item in view.get("pending") or ()],
    )


def _result_schema(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A client tool's declared outputs, back from the answer_schema the view carries."""
    if item["kind"] != "client_tool":
        return None
    schema = {key: value for key, value in (item.get("answer_schema") or {}).items()
              if key != "description"}
    return schema or None
