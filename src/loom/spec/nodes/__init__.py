"""Every node type of the language."""

from loom.spec.nodes.base import NEXT, EndNode, Node, StartNode
from loom.spec.nodes.branching import BranchingNode
from loom.spec.nodes.llm import LlmNode
from loom.spec.nodes.messages import InputMessageNode, OutputMessageNode
from loom.spec.nodes.subflows import (
    AgentNode,
    CatchExceptionNode,
    FlowNode,
    MapNode,
    ParallelFlowNode,
    ParallelMapNode,
)
from loom.spec.nodes.tool import ApiNode, ToolNode

__all__ = [
    "NEXT",
    "AgentNode",
    "ApiNode",
    "BranchingNode",
    "CatchExceptionNode",
    "EndNode",
    "FlowNode",
    "InputMessageNode",
    "LlmNode",
    "MapNode",
    "Node",
    "OutputMessageNode",
    "ParallelFlowNode",
    "ParallelMapNode",
    "StartNode",
    "ToolNode",
]
