"""Nodes that talk with the user: InputMessageNode and OutputMessageNode."""

from __future__ import annotations

from loom.spec.nodes.base import Node
from loom.spec.property import Property, StringProperty
from loom.spec.templates import placeholders

USER_INPUT = "user_input"


class InputMessageNode(Node):
    """Optionally says ``message``, then waits for the user's answer."""

    message: str | None = None

    def infer_inputs(self) -> list[Property]:
        return [StringProperty(title=name) for name in placeholders(self.message)]

    def infer_outputs(self) -> list[Property]:
        title = self.outputs[0].title if self.outputs else USER_INPUT
        return [StringProperty(title=title)]

    def _check(self) -> None:
        if self.outputs is not None and len(self.outputs) != 1:
            raise self.error(
                "an InputMessageNode has exactly one output (the user's answer)",
                hint=f"declare one string output, e.g. '{USER_INPUT}'",
            )
        super()._check()


class OutputMessageNode(Node):
    """Appends ``message`` to the conversation as an agent message."""

    message: str

    def infer_inputs(self) -> list[Property]:
        return [StringProperty(title=name) for name in placeholders(self.message)]

    def infer_outputs(self) -> list[Property]:
        return []
