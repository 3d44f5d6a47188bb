"""Flows: the Flow component, its control and data edges, and the checks of its graph.

Built from the node types of :mod:`loom.spec.nodes`, which never import it.
"""

from loom.spec.flows.edges import ControlFlowEdge, DataFlowEdge
from loom.spec.flows.flow import Flow

__all__ = ["ControlFlowEdge", "DataFlowEdge", "Flow"]
