"""The node base class and the two nodes every flow has: StartNode and EndNode."""

from __future__ import annotations

from loom.spec.component import ComponentWithIO
from loom.spec.property import Property, titles

NEXT = "next"


class Node(ComponentWithIO):
    """A step of a flow. ``branches`` names the ways control can leave it."""

    abstract = True

    branches: list[str] | None = None

    def infer_branches(self) -> list[str]:
        return [NEXT]

    def _check(self) -> None:
        super()._check()
        inferred = self.infer_branches()
        if self.branches is None:
            self.branches = inferred
        elif sorted(self.branches) != sorted(inferred) and not self._accepts_any_branches():
            raise self.error(
                f"declared branches {sorted(self.branches)} do not match the branches "
                f"its configuration implies {sorted(inferred)}",
                hint="leave 'branches' out to infer them",
            )

    def _accepts_any_branches(self) -> bool:
        return False


class _MirroredIO(Node):
    """Inputs and outputs are the same list (StartNode, EndNode)."""

    abstract = True

    def infer_inputs(self) -> list[Property]:
        return list(self.inputs if self.inputs is not None else self.outputs or [])

    def infer_outputs(self) -> list[Property]:
        return list(self.outputs if self.outputs is not None else self.inputs or [])

    def _check(self) -> None:
        super()._check()
        if titles(self.inputs) != titles(self.outputs) and set(titles(self.inputs)) != set(
            titles(self.outputs)
        ):
            raise self.error(
                "inputs and outputs must be the same properties",
                hint="give only 'inputs' (the outputs mirror them)",
            )


class StartNode(_MirroredIO):
    """The entry of a flow; its inputs are the flow's inputs."""


class EndNode(_MirroredIO):
    """An exit of a flow; its inputs become the flow's outputs."""

    branch_name: str = NEXT

    def infer_branches(self) -> list[str]:
        return []
