"""FlowNode and CatchExceptionNode: run a subflow inline."""

from __future__ import annotations

import asyncio
from typing import Any

from loom.errors import RunError
from loom.runtime.context import RunContext
from loom.runtime.engine import run_flow
from loom.runtime.journal import Suspended
from loom.runtime.plan import Compiler
from loom.spec.nodes import CatchExceptionNode, FlowNode
from loom.spec.nodes.subflows import CAUGHT_EXCEPTION_BRANCH, CAUGHT_EXCEPTION_INFO

MAX_INFO_LENGTH = 300


class FlowNodeExecutor:
    """Runs the subflow and takes the branch named by the EndNode it reached."""

    def __init__(self, node: FlowNode, compiler: Compiler) -> None:
        self.name = node.name
        self.plan = compiler.plan(node.subflow)

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        outcome = await run_flow(self.plan, ctx.child(self.plan.name), inputs)
        return outcome.outputs, outcome.branch


class CatchExceptionExecutor:
    """Runs the subflow; a failure inside becomes ``caught_exception_branch``.

    Cancellation is never caught. ``caught_exception_info`` holds the error's
    first line only (no stack trace, no chained causes), cut to 300 characters.
    """

    def __init__(self, node: CatchExceptionNode, compiler: Compiler) -> None:
        self.name = node.name
        self.plan = compiler.plan(node.subflow)
        self.defaults = {
            prop.title: prop.default for prop in node.outputs or [] if prop.has_default
        }

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        try:
            outcome = await run_flow(self.plan, ctx.child(self.plan.name), inputs)
        except (asyncio.CancelledError, Suspended):
            raise
        except Exception as exc:
            outputs = dict(self.defaults)
            outputs[CAUGHT_EXCEPTION_INFO] = _summary(exc)
            return outputs, CAUGHT_EXCEPTION_BRANCH
        return {**outcome.outputs, CAUGHT_EXCEPTION_INFO: None}, outcome.branch


def _summary(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, RunError) else str(exc)
    first_line = text.splitlines()[0] if text else type(exc).__name__
    where = f" (in {exc.node})" if isinstance(exc, RunError) and exc.node_path else ""
    return (first_line + where)[:MAX_INFO_LENGTH]
