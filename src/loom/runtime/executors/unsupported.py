"""Nodes this runtime cannot execute yet: they fail clearly when reached."""

from __future__ import annotations

from typing import Any

from loom.errors import StepError
from loom.runtime.context import RunContext
from loom.runtime.plan import Executor
from loom.spec.nodes.base import Node


class Unsupported(Executor):
    journaled = False
    threaded = False

    def __init__(self, node: Node, compiler: object = None) -> None:
        self.node = node
        self.reason = f"{node.component_type} is not supported yet by loom's runtime"

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        raise StepError(self.reason, hint="see the README's list of supported nodes")
