"""InputMessageNode: say the optional message, then wait for the user's answer."""

from __future__ import annotations

from typing import Any

from loom.runtime.context import RunContext
from loom.runtime.plan import Compiler
from loom.spec.nodes import NEXT, InputMessageNode
from loom.spec.templates import render, to_text


class InputMessageExecutor:
    """The run pauses here until the user answers (see ``Runtime.resume``)."""

    journaled = True

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
