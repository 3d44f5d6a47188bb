"""BranchingNode: the input's value picks the branch."""

from __future__ import annotations

from typing import Any

from loom.runtime.context import RunContext
from loom.runtime.plan import Compiler, Executor
from loom.spec.nodes import BranchingNode
from loom.spec.nodes.branching import DEFAULT_BRANCH
from loom.spec.templates import to_text


class BranchingExecutor(Executor):
    """Looks the input up in ``mapping``; values are compared as text, booleans as
    ``true``/``false`` (JSON), numbers without quotes (``5`` matches key ``"5"``)."""

    journaled = False  # no outside call: replay recomputes it
    threaded = False

    def __init__(self, node: BranchingNode, compiler: Compiler) -> None:
        self.mapping = dict(node.mapping)
        self.key = (node.inputs or [])[0].title

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        value = inputs.get(self.key)
        if value is None:
            return {}, DEFAULT_BRANCH
        return {}, self.mapping.get(to_text(value), DEFAULT_BRANCH)
