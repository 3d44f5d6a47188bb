"""ToolNode: call one tool with the node's inputs."""

from __future__ import annotations

from typing import Any

from loom.runtime.context import RunContext
from loom.runtime.errors import PlanError, StepError
from loom.runtime.plan import Compiler
from loom.runtime.tools import ToolResultError, split_result
from loom.spec.nodes import NEXT, ToolNode
from loom.spec.tools import ServerTool


class ToolExecutor:
    def __init__(self, node: ToolNode, compiler: Compiler) -> None:
        tool = node.tool
        self.tool_name = tool.name
        self.outputs = list(tool.outputs or [])
        self.unsupported: str | None = None
        self.bound = None
        if isinstance(tool, ServerTool):
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

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        if self.bound is None:
            raise StepError(self.unsupported or "unsupported tool")
        try:
            result = await self.bound.call(ctx.services.pool, inputs)
        except Exception as exc:
            detail = str(exc)
            raise StepError(
                f"tool '{self.tool_name}' raised {type(exc).__name__}"
                + (f": {detail}" if detail else "")
            ) from exc
        try:
            return split_result(self.tool_name, self.outputs, result), NEXT
        except ToolResultError as exc:
            raise StepError(str(exc), hint="return what the tool's outputs declare") from exc
