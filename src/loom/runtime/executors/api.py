"""ApiNode: a templated HTTP request whose JSON response becomes the outputs."""

from __future__ import annotations

from typing import Any

from loom.runtime.context import RunContext
from loom.runtime.http_call import HttpCall
from loom.runtime.plan import Compiler
from loom.spec.nodes import NEXT, ApiNode
from loom.spec.tools import RemoteTool


class ApiExecutor:
    """The request itself is :class:`~loom.runtime.http_call.HttpCall`, shared with RemoteTool."""

    journaled = True  # a resumed run replays its recorded result

    def __init__(self, node: ApiNode | RemoteTool, compiler: Compiler) -> None:
        self.node = node
        self.call = HttpCall(node)

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        return await self.call(inputs), NEXT
