"""ToolNode and ApiNode: one tool call, or one templated HTTP request, from the inputs."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import Any

from loom import mcp
from loom.errors import PlanError, StepError
from loom.runtime.asking import is_yes
from loom.runtime.context import RunContext
from loom.runtime.http_call import HttpCall
from loom.runtime.keys import CONFIRM
from loom.runtime.plan import Compiler, Executor
from loom.runtime.tools import ToolResultError, result_schema, split_result
from loom.spec.nodes import NEXT, ApiNode, ToolNode
from loom.spec.templates import to_text
from loom.spec.tools import ClientTool, MCPTool, RemoteTool, ServerTool


class ToolExecutor(Executor):
    journaled = True  # a resumed run replays its recorded result
    threaded = False  # a plain sync ServerTool: called in a worker thread, without waits

    def __init__(self, node: ToolNode, compiler: Compiler) -> None:
        tool = node.tool
        self.tool = tool
        self.tool_name = tool.name
        self.outputs = list(tool.outputs or [])
        self.unsupported: str | None = None
        self.bound = None
        self.client = isinstance(tool, ClientTool)
        self.result_schema = result_schema(self.outputs)
        self.confirm = bool(getattr(tool, "requires_confirmation", False))
        self.remote: HttpCall | None = None
        self.mcp = tool if isinstance(tool, MCPTool) else None
        self.who = f"{tool.component_type} '{tool.name}' (ToolNode '{node.name}')"
        if self.client or self.mcp:
            pass
        elif isinstance(tool, RemoteTool):
            # A RemoteTool is an ApiNode's request with the tool's arguments as inputs.
            self.remote = HttpCall(tool)
        elif isinstance(tool, ServerTool):
            self.bound = compiler.services.tools.get(tool.name)
            if self.bound is None:
                raise PlanError(
                    f"ServerTool '{tool.name}' (used by ToolNode '{node.name}') has no "
                    "implementation",
                    hint=f"register a function named '{tool.name}': "
                    "Runtime(tools={...}) or `loom run --tools FILE.py`",
                )
        else:
            self.unsupported = f"{tool.component_type} '{tool.name}' is not supported yet"
        bound = self.bound
        self.threaded = (
            bound is not None and not bound.is_async and not bound.is_inline and not self.confirm
        )

    def sync_run(
        self, inputs: dict[str, Any], loop: asyncio.AbstractEventLoop
    ) -> tuple[dict[str, Any], str]:
        """Call a threaded tool from the worker thread the engine runs it in."""
        try:
            result = self.bound.fn(**inputs)  # type: ignore[union-attr]
            if inspect.isawaitable(result):  # a sync wrapper around a coroutine
                result = asyncio.run_coroutine_threadsafe(_awaited(result), loop).result()
        except (Exception, SystemExit) as exc:
            raise self._raised(exc) from exc
        return self._split(result), NEXT

    def _raised(self, exc: BaseException) -> StepError:
        detail = str(exc)
        return StepError(
            f"tool '{self.tool_name}' raised {type(exc).__name__}"
            + (f": {detail}" if detail else "")
        )

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        call = {"name": self.tool_name, "arguments": inputs}
        if self.confirm:
            answer = ctx.wait(
                "confirmation",
                prompt=f"Run tool '{self.tool_name}' with {to_text(inputs)}?",
                tool_call=call,
                at=(CONFIRM,),
            )
            if not is_yes(answer):
                raise StepError(
                    f"running tool '{self.tool_name}' was refused",
                    hint="answer true to run it; a CatchExceptionNode can handle refusals",
                )
        if self.client:
            result = ctx.wait("client_tool", tool_call=call, schema=self.result_schema)
            return self._split(result), NEXT
        if self.remote is not None:
            return await ctx.services.effects.http(self.remote, inputs), NEXT
        if self.mcp is not None:
            return await self._mcp(ctx, self.mcp, inputs), NEXT
        if self.bound is None:
            raise StepError(self.unsupported or "unsupported tool")
        events = ctx.run.events
        if events.enabled:
            events.emit("tool_start", ctx.path, ctx.step, tool=self.tool, inputs=inputs)
        try:
            result = await ctx.services.effects.tool(self.bound, inputs)
        except Exception as exc:
            if events.enabled:
                events.emit("tool_end", ctx.path, ctx.step, tool=self.tool, error=exc)
            raise self._raised(exc) from exc
        if events.enabled:
            events.emit("tool_end", ctx.path, ctx.step, tool=self.tool, outputs=result)
        return self._split(result), NEXT

    async def _mcp(self, ctx: RunContext, tool: MCPTool, inputs: dict[str, Any]
                   ) -> dict[str, Any]:
        ctx.services.effects.mcp_ready()
        events = ctx.run.events
        if events.enabled:
            events.emit("tool_start", ctx.path, ctx.step, tool=tool, inputs=inputs)
        try:
            result = await ctx.services.effects.mcp(ctx.run, tool.client_transport, self.who,
                                                    tool.retry_policy, tool.name, inputs)
            value = mcp.result_value(self.outputs, result)
            outputs = split_result(tool.name, self.outputs, value)
        except (mcp.McpToolError, ToolResultError) as exc:
            if events.enabled:
                events.emit("tool_end", ctx.path, ctx.step, tool=tool, error=exc)
            hint = exc.hint if isinstance(exc, mcp.McpToolError) else "declare its outputs"
            raise StepError(str(exc), hint=hint) from exc
        if events.enabled:
            events.emit("tool_end", ctx.path, ctx.step, tool=tool, outputs=outputs)
        return outputs

    def _split(self, result: Any) -> dict[str, Any]:
        try:
            return split_result(self.tool_name, self.outputs, result)
        except ToolResultError as exc:
            raise StepError(str(exc), hint="return what the tool's outputs declare") from exc


async def _awaited(result: Awaitable[Any]) -> Any:
    return await result


class ApiExecutor(Executor):
    """An ApiNode: its request is :class:`~loom.runtime.http_call.HttpCall`, as a RemoteTool's."""

    journaled = True  # a resumed run replays its recorded result
    threaded = False

    def __init__(self, node: ApiNode, compiler: Compiler) -> None:
        self.node = node
        self.call = HttpCall(node)

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        return await ctx.services.effects.http(self.call, inputs), NEXT
