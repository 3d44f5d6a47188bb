"""The activities a worker runs: a ServerTool call, an LLM call, an HTTP request, an
MCP call.

They run outside the workflow, on any worker of the task queue, with the
worker's own tools, registry (secrets) and environment (API keys,
``LOOM_LLM_*``). A failure the activity itself decides (a tool's exception, an
LLM error after the client's own retries, a result too large for Temporal) is
non-retryable, as locally; a lost worker or a timed-out attempt is retried by
Temporal.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from loom import mcp
from loom.errors import LlmError, LoomError, StepError
from loom.llm import LlmOverrides, overrides_from_env
from loom.mcp import Sessions
from loom.runtime.http_call import HttpCall
from loom.runtime.services import Services
from loom.serialization import load_document
from loom.spec.llms import LlmConfig
from loom.spec.nodes import ApiNode
from loom.spec.tools import RemoteTool
from loom.spec.transports import ClientTransport
from loom.temporal.mcp_pool import SessionPool
from loom.temporal.names import (
    HTTP_ACTIVITY,
    LLM_ACTIVITY,
    MCP_ACTIVITY,
    MCP_END_ACTIVITY,
    TOOL_ACTIVITY,
    too_large,
)


class Activities:
    """The worker's side of the effects door; one per worker process."""

    def __init__(
        self, tools: Mapping[str, Callable[..., Any]], registry: Mapping[str, Any] | None = None,
        tool_threads: int = 64, llm: Mapping[str, str] | None = None,
        mcp_sessions: int = 64, mcp_idle_timeout: float = 300.0, large_values: bool = False,
    ) -> None:
        overrides: dict[str, Any] = dict(overrides_from_env())
        overrides.update(llm or {})  # the worker's --llm-url, or a test's server
        self.services = Services(
            tools=dict(tools), llm=LlmOverrides(**overrides),  # type: ignore[typeddict-item]
            max_concurrency=1024, tool_threads=tool_threads, branch_timeout=None,
            max_steps=1,
        )
        self.registry = dict(registry or {})
        self.large_values = large_values  # the worker has a claim-check store: no size limit
        self.calls: dict[str, int] = {}  # tool name -> calls started here (tests count them)
        self.mcp_pool = SessionPool(mcp_sessions, mcp_idle_timeout)

    def all(self) -> list[Callable[..., Any]]:
        return [self.tool, self.llm, self.http, self.mcp, self.mcp_end]

    @activity.defn(name=TOOL_ACTIVITY)
    async def tool(self, request: dict[str, Any]) -> Any:
        name = request["name"]
        bound = self.services.tools.get(name)
        if bound is None:
            raise ApplicationError(
                f"this worker has no tool '{name}' (give it with --tools FILE.py)",
                type="MissingTool", non_retryable=True,
            )
        self.calls[name] = self.calls.get(name, 0) + 1
        try:
            result = await self.services.effects.tool(bound, request["arguments"])
        except Exception as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__,
                                   non_retryable=True) from exc
        self._fits(result, f"the result of tool '{name}'")
        return result

    @activity.defn(name=LLM_ACTIVITY)
    async def llm(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            config = load_document(request["config"], registry=self.registry)
            if not isinstance(config, LlmConfig):
                raise ApplicationError("not an LLM config", type="LoadError", non_retryable=True)
            client = self.services.llm_client(config)
            answer = await client.generate(
                request["messages"], response_schema=request["response_schema"],
                tools=request["tools"],
            )
        except LlmError as exc:
            raise ApplicationError(str(exc), type="LlmError", non_retryable=True) from exc
        except LoomError as exc:
            raise ApplicationError(exc.describe(), type="LlmError", non_retryable=True) from exc
        data = {
            "text": answer.text, "finish_reason": answer.finish_reason, "usage": answer.usage,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments}
                           for c in answer.tool_calls],
        }
        self._fits(data, "the LLM answer")
        return data

    @activity.defn(name=HTTP_ACTIVITY)
    async def http(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            source = load_document(request["component"], registry=self.registry)
            if not isinstance(source, ApiNode | RemoteTool):
                raise ApplicationError("not an ApiNode or RemoteTool", type="LoadError",
                                       non_retryable=True)
            outputs = await self.services.effects.http(HttpCall(source), request["inputs"])
        except StepError as exc:
            raise ApplicationError(str(exc), exc.hint, type="StepError",
                                   non_retryable=True) from exc
        except LoomError as exc:
            raise ApplicationError(exc.describe(), type="StepError", non_retryable=True) from exc
        self._fits(outputs, f"the answer of {source.component_type} '{source.name}'")
        return outputs

    @activity.defn(name=MCP_ACTIVITY)
    async def mcp(self, request: dict[str, Any]) -> Any:
        """An MCP tool call (``tool`` given) or a server's listing, on the session this
        worker keeps for the run and server (``mcp_pool``); a request without a run
        (recorded before the pool) gets a session of its own, closed after it."""
        who = request["who"]
        try:
            transport = load_document(request["transport"], registry=self.registry)
            if not isinstance(transport, ClientTransport):
                raise ApplicationError("not an MCP transport", type="LoadError",
                                       non_retryable=True)
            mcp.require_sdk()
            async with self._sessions(request.get("run")) as sessions:
                if "tool" in request:
                    result: Any = await mcp.call_tool(
                        sessions, transport, request["tool"], request["arguments"], who,
                        request["retry_policy"])
                else:
                    result = await mcp.list_tools(sessions, transport, who,
                                                  request["retry_policy"])
        except mcp.McpToolError as exc:
            raise ApplicationError(str(exc), exc.hint, type="McpToolError",
                                   non_retryable=True) from exc
        except LoomError as exc:
            raise ApplicationError(f"{who}: {exc.describe()}", type="McpToolError",
                                   non_retryable=True) from exc
        self._fits(result, f"the answer of {who}")
        return result

    @contextlib.asynccontextmanager
    async def _sessions(self, run_id: str | None) -> AsyncIterator[Sessions]:
        if run_id is not None:
            async with self.mcp_pool.lease(run_id) as sessions:
                yield sessions
            return
        sessions = Sessions()
        try:
            yield sessions
        finally:
            await sessions.close()

    @activity.defn(name=MCP_END_ACTIVITY)
    async def mcp_end(self, request: dict[str, Any]) -> int:
        """The run ended: close its MCP sessions here (how many there were)."""
        return await self.mcp_pool.end_run(request["run"])

    def close(self) -> None:
        self.services.close()

    async def aclose(self) -> None:
        """Close the MCP sessions, then the rest (the worker stops)."""
        await self.mcp_pool.close()
        self.close()

    def _fits(self, value: Any, what: str) -> None:
        """Refuse, for good, a result Temporal would refuse on every attempt."""
        problem = None if self.large_values else too_large(value, what)
        if problem is not None:
            raise ApplicationError(problem, type="PayloadTooLarge", non_retryable=True)
