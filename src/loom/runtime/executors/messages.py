"""OutputMessageNode and InputMessageNode: say something, wait for the user's answer."""

from __future__ import annotations

from typing import Any

from loom.runtime.context import RunContext
from loom.runtime.plan import Compiler, Executor
from loom.spec.nodes import NEXT, InputMessageNode, OutputMessageNode
from loom.spec.templates import render, to_text


class OutputMessageExecutor(Executor):
    """Appends the rendered message to the conversation as an assistant message."""

    journaled = False  # replay says it again
    threaded = False

    def __init__(self, node: OutputMessageNode, compiler: Compiler) -> None:
        self.message = node.message
        self.name = node.name

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        ctx.say({"role": "assistant", "content": render(self.message, inputs), "node": self.name})
        return {}, NEXT


class InputMessageExecutor(Executor):
    """The run pauses here until the user answers (see ``Runtime.resume``)."""

    journaled = True
    threaded = False

    def __init__(self, node: InputMessageNode, compiler: Compiler) -> None:
        self.message = node.message
        self.output = (node.outputs or [])[0].title
        self.name = node.name

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        prompt = render(self.message, inputs) if self.message else None
        if prompt:
            ctx.say({"role": "assistant", "content": prompt, "node": self.name})
        answer = ctx.wait("input", prompt=prompt)
        text = to_text(answer)
        ctx.say({"role": "user", "content": text})
        return {self.output: text}, NEXT
