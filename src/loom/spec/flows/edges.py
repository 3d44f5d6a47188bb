"""Edges of a flow: control (which node runs next) and data (which value goes where)."""

from __future__ import annotations

from loom.spec.component import Component
from loom.spec.nodes.base import Node


class ControlFlowEdge(Component):
    """When ``from_node`` leaves by ``from_branch`` (null: ``next``), go to ``to_node``."""

    from_node: Node
    from_branch: str | None = None
    to_node: Node


class DataFlowEdge(Component):
    """Feed ``source_node``'s output into ``destination_node``'s input."""

    source_node: Node
    source_output: str
    destination_node: Node
    destination_input: str
