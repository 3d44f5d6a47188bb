"""Nodes that need no outside call: OutputMessageNode and BranchingNode."""

from __future__ import annotations

from typing import Any

from loom.runtime.context import RunContext
from loom.runtime.plan import Compiler
from loom.spec.nodes import NEXT, BranchingNode, OutputMessageNode
from loom.spec.nodes.branching import DEFAULT_BRANCH
from loom.spec.templates import render, to_text


class OutputMessageExecutor:
    """Appends the rendered message to the conversation as an assistant message."""

    def __init__(self, node: OutputMessageNode, compiler: Compiler) -> None:
        self.message = node.message
        self.name = node.name

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        ctx.say({"role": "assistant", "content": render(self.message, inputs), "node": self.name})
        return {}, NEXT


class BranchingExecutor:
    """Looks the input up in ``mapping``; values are compared as text, booleans as
    ``true``/``false`` (JSON), numbers without quotes (``5`` matches key ``"5"``)."""

    def __init__(self, node: BranchingNode, compiler: Compiler) -> None:
        self.mapping = dict(node.mapping)
        self.key = (node.inputs or [])[0].title

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        value = inputs.get(self.key)
        if value is None:
            return {}, DEFAULT_BRANCH
        return {}, self.mapping.get(to_text(value), DEFAULT_BRANCH)
