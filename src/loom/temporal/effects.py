"""The Temporal side of the effects door, used inside the workflow.

Every tool, LLM, HTTP (ApiNode, RemoteTool) and MCP call is an activity; the clock, ids and waiting on tasks
come from the workflow, so a replay of the history takes the same path. The
concurrency limit belongs to the run (not to an event loop), and the number of
activities in flight is capped well under Temporal's 2,000 per workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy as TemporalRetry
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.exceptions import TimeoutError as TemporalTimeout

from loom import mcp
from loom.errors import LlmError, StepError
from loom.llm import LlmEndpoint, LlmResponse, RetryPolicy, ToolCall
from loom.runtime.context import Run, RunContext
from loom.runtime.effects import Effects, LlmCaller
from loom.runtime.engine import FlowOutcome
from loom.runtime.executors.subflows import MapExecutor
from loom.runtime.http_call import HttpCall
from loom.runtime.tools import BoundTool
from loom.serialization import to_dict
from loom.spec.llms import LlmConfig
from loom.spec.transports import ClientTransport
from loom.temporal.continuation import CONTINUE_AFTER, Continuation
from loom.temporal.large_maps import MAP_BATCH, run_in_children
from loom.temporal.names import (
    HTTP_ACTIVITY,
    INFRA_ATTEMPTS,
    LLM_ACTIVITY,
    MCP_ACTIVITY,
    MCP_END_ACTIVITY,
    TOOL_ACTIVITY,
    too_large,
)

MAX_IN_FLIGHT = 500  # activities per workflow; Temporal refuses more than 2,000 pending


@dataclass(frozen=True)
class Settings:
    """Where activities run, how long a tool's attempt may take before Temporal gives
    it to another worker (a lost worker is only noticed by that timeout), and how many
    attempts a tool call gets in all (ServerTool has no retry_policy of its own)."""

    task_queue: str
    tool_timeout: float = 300.0
    tool_attempts: int = INFRA_ATTEMPTS
    large_values: bool = False  # a claim-check store takes payloads over Temporal's limit
    continue_after: int | None = CONTINUE_AFTER  # history events, then continue as new
    map_batch: int = MAP_BATCH  # a map of more items runs in child workflows of this many

    @classmethod
    def of_start(cls, start: Mapping[str, Any]) -> Settings:
        """The settings a run was started with (a run started before a setting existed
        gets its default)."""
        return cls(start["task_queue"], start.get("tool_timeout") or 300.0,
                   start.get("tool_attempts") or INFRA_ATTEMPTS,
                   large_values=bool(start.get("large_values")),
                   continue_after=start.get("continue_after") or CONTINUE_AFTER,
                   map_batch=start.get("map_batch") or MAP_BATCH)


class TemporalEffects(Effects):
    threads = False  # the engine never hops to a thread inside a workflow

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._limit: asyncio.Semaphore | None = None
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._errors: dict[str, type[Exception]] = {}
        self._documents: dict[int, tuple[HttpCall, dict[str, Any]]] = {}
        self._transports: dict[int, tuple[ClientTransport, dict[str, Any]]] = {}
        self.continuation: Continuation | None = None  # holds activities to continue as new

    def now(self) -> float:
        return workflow.now().timestamp()

    def now_ns(self) -> int:
        return workflow.time_ns()

    def new_id(self) -> str:
        return workflow.uuid4().hex

    def owner(self) -> str:
        return f"temporal:{workflow.info().workflow_id}"

    def monotonic(self) -> Callable[[], float]:
        return workflow.time

    def semaphore(self, size: int) -> asyncio.Semaphore:
        if self._limit is None:
            self._limit = asyncio.Semaphore(size)
        return self._limit

    async def first_failure(self, tasks: Sequence[asyncio.Future[Any]]) -> None:
        await workflow.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)

    async def tool(self, bound: BoundTool, arguments: dict[str, Any]) -> Any:
        settings = self.settings
        try:
            return await self._activity(
                TOOL_ACTIVITY, {"name": bound.name, "arguments": arguments},
                settings.tool_timeout, _retry(RetryPolicy(), settings.tool_attempts),
            )
        except ApplicationError as exc:
            raise self._error(exc.type or "Exception")(exc.message) from None
        except ActivityError as exc:
            if not isinstance(exc.cause, TemporalTimeout):
                raise
            raise self._error("ToolTimeout")(
                f"no worker finished it within {settings.tool_timeout:g} s, "
                f"{settings.tool_attempts} attempt(s) in all (a lost worker, or a tool slower "
                "than that): give more with tool_timeout= and tool_attempts= on "
                "TemporalBackend, or loom run --tool-timeout/--tool-attempts") from None

    async def http(self, call: HttpCall, inputs: dict[str, Any]) -> dict[str, Any]:
        document = self._documents.get(id(call))
        if document is None:  # one per node of the run: the component, secrets left out
            document = self._documents[id(call)] = (call, to_dict(call.source))
        retry = call.retry
        timeout = call.deadline * (retry.max_attempts + 1) + retry.max_retry_delay * \
            retry.max_attempts + 10
        try:
            outputs: dict[str, Any] = await self._activity(
                HTTP_ACTIVITY, {"component": document[1], "inputs": inputs}, timeout,
                _retry(retry, INFRA_ATTEMPTS))
        except ApplicationError as exc:  # the request's own failure, as it reads locally
            hint = exc.details[0] if exc.details else None
            raise StepError(exc.message, hint=hint if isinstance(hint, str) else None) from None
        return outputs

    def mcp_ready(self) -> None:
        pass  # the worker imports the SDK; the workflow sandbox must not

    async def mcp(self, run: Run, transport: ClientTransport, who: str,
                  retry: dict[str, Any] | None, tool: str = "", arguments: Any = None) -> Any:
        request = {"tool": tool, "arguments": arguments, "who": who} if tool else {"who": who}
        if MCP_END_ACTIVITY not in run.memo:  # the run's first MCP call: end its sessions
            run.memo[MCP_END_ACTIVITY] = True
            run.closers.append(lambda: self._mcp_end(run.run_id))
        return await self._mcp(transport, retry, {**request, "run": run.run_id})

    async def _mcp_end(self, run_id: str) -> None:
        """The run ends (or waits): close its MCP sessions. Best effort: the activity
        reaches one worker of the queue; the others close theirs when idle."""
        if workflow.patched(MCP_END_ACTIVITY):  # never in a history recorded before it
            with contextlib.suppress(ActivityError):  # the idle timeout closes them then
                await workflow.execute_activity(
                    MCP_END_ACTIVITY, {"run": run_id}, task_queue=self.settings.task_queue,
                    schedule_to_close_timeout=timedelta(seconds=60),  # never holds a run long
                    retry_policy=TemporalRetry(maximum_attempts=1))

    async def _mcp(self, transport: ClientTransport, retry_policy: dict[str, Any] | None,
                   request: dict[str, Any]) -> Any:
        """One MCP call (``tool`` given) or listing, as an activity: the worker opens the
        session, and retries per ``retry_policy`` inside the activity, as locally."""
        document = self._transports.get(id(transport))
        if document is None:  # secrets (sensitive headers) left out: the worker has them
            document = self._transports[id(transport)] = (transport, to_dict(transport))
        policy = RetryPolicy.from_dict(retry_policy or {"max_attempts": 0})
        per_try = mcp.STARTUP_TIMEOUT + 2 * transport.read_timeout_seconds
        timeout = per_try * (policy.max_attempts + 1) + policy.max_retry_delay * \
            policy.max_attempts + 10
        try:
            return await self._activity(
                MCP_ACTIVITY, {**request, "transport": document[1], "retry_policy": retry_policy},
                timeout, _retry(RetryPolicy(), INFRA_ATTEMPTS))
        except ApplicationError as exc:  # the call's own failure, as it reads locally
            hint = exc.details[0] if exc.details else None
            raise mcp.McpToolError(exc.message, hint if isinstance(hint, str) else None) from None

    def llm(self, config: LlmConfig, endpoint: Callable[[LlmConfig], LlmEndpoint]) -> LlmCaller:
        return ActivityLlm(self, config)

    async def _activity(
        self, name: str, argument: dict[str, Any], timeout: float, retry: TemporalRetry
    ) -> Any:
        problem = None if self.settings.large_values else too_large(
            argument, f"the request of {name}")
        if problem is not None:  # the workflow task would fail on every attempt
            raise ApplicationError(problem, type="PayloadTooLarge", non_retryable=True)
        return await self.gated(lambda: self._schedule(name, argument, timeout, retry))

    async def gated(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """``call()`` (an activity, a child workflow), held while the run continues as new."""
        continuation = self.continuation
        if continuation is None:
            return await call()
        await continuation.gate()
        continuation.in_flight += 1
        try:
            return await call()
        finally:
            continuation.in_flight -= 1

    async def map_items(self, ctx: RunContext, node: MapExecutor,
                        iterations: list[dict[str, Any]]) -> list[FlowOutcome] | None:
        return await run_in_children(self, ctx, node, iterations)

    async def _schedule(
        self, name: str, argument: dict[str, Any], timeout: float, retry: TemporalRetry
    ) -> Any:
        async with self._in_flight:
            try:
                return await workflow.execute_activity(
                    name, argument, task_queue=self.settings.task_queue,
                    start_to_close_timeout=timedelta(seconds=timeout), retry_policy=retry,
                )
            except ActivityError as exc:
                cause = exc.cause
                if isinstance(cause, CancelledError):
                    raise asyncio.CancelledError() from None  # a cancelled sibling
                if isinstance(cause, ApplicationError):
                    raise cause from None
                raise

    def _error(self, name: str) -> type[Exception]:
        """An exception class named like the one the tool raised on the worker, so
        the node's message reads as it does locally."""
        kind = self._errors.get(name)
        if kind is None:
            kind = self._errors[name] = type(name, (Exception,), {})
        return kind


class ActivityLlm:
    """Stands in for an LlmClient: ``generate`` is an activity run on a worker,
    which reads the API key and the ``LOOM_LLM_*`` overrides there."""

    def __init__(self, effects: TemporalEffects, config: LlmConfig) -> None:
        self.effects = effects
        self.config = to_dict(config)
        self.retry = RetryPolicy.from_dict(config.retry_policy)
        self.endpoint = LlmEndpoint(
            url=config.url or "", model=config.model_id,
            generation_params=dict(config.default_generation_parameters or {}),
        )

    async def generate(
        self, messages: Sequence[Mapping[str, Any]], *,
        response_schema: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None, stream: bool = False,
        on_token: Callable[[str], Any] | None = None,
    ) -> LlmResponse:
        retry = self.retry
        per_try = retry.request_timeout or self.endpoint.timeout or 600.0
        timeout = per_try * (retry.max_attempts + 1) + retry.max_retry_delay * retry.max_attempts
        request = {"config": self.config, "messages": [dict(m) for m in messages],
                   "response_schema": response_schema, "tools": tools}
        try:
            data = await self.effects._activity(
                LLM_ACTIVITY, request, timeout + 10, _retry(retry, 3)
            )
        except ApplicationError as exc:
            raise LlmError(exc.message, url=self.endpoint.url, model=self.endpoint.model) from None
        answer = LlmResponse(
            text=data["text"], tool_calls=[ToolCall(**call) for call in data["tool_calls"]],
            finish_reason=data["finish_reason"], usage=data["usage"],
        )
        if on_token is not None and answer.text:
            on_token(answer.text)
        return answer


def _retry(policy: RetryPolicy, attempts: int) -> TemporalRetry:
    return TemporalRetry(
        initial_interval=timedelta(seconds=max(policy.initial_retry_delay, 0.05)),
        backoff_coefficient=max(policy.backoff_factor, 1.0),
        maximum_interval=timedelta(seconds=max(policy.max_retry_delay,
                                               policy.initial_retry_delay, 0.05)),
        maximum_attempts=attempts,
    )
