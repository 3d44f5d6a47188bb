"""BranchingNode: choose the next branch by looking up a value."""

from __future__ import annotations

from loom.spec.nodes.base import Node
from loom.spec.property import Property, StringProperty

DEFAULT_BRANCH = "default"
MAPPING_KEY = "branching_mapping_key"


class BranchingNode(Node):
    """Maps its single input to a branch name; anything unmapped goes to ``default``."""

    mapping: dict[str, str]

    def infer_inputs(self) -> list[Property]:
        if self.inputs:
            return [self.inputs[0]]
        return [StringProperty(title=MAPPING_KEY, description="Next branch name in the flow")]

    def infer_outputs(self) -> list[Property]:
        return []

    def infer_branches(self) -> list[str]:
        return sorted({DEFAULT_BRANCH, *self.mapping.values()})

    def _check(self) -> None:
        if self.inputs is not None and len(self.inputs) != 1:
            raise self.error(
                f"a BranchingNode takes exactly one input, got {len(self.inputs)}",
                hint=f"declare one input (default name '{MAPPING_KEY}')",
            )
        super()._check()
