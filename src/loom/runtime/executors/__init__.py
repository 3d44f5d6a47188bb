"""One executor per node family; ``FACTORIES`` maps node classes to them."""

from __future__ import annotations

from loom.runtime.agents.node import AgentNodeExecutor
from loom.runtime.executors.branching import BranchingExecutor
from loom.runtime.executors.llm import LlmExecutor
from loom.runtime.executors.messages import InputMessageExecutor, OutputMessageExecutor
from loom.runtime.executors.subflows import (
    CatchExceptionExecutor,
    FlowNodeExecutor,
    MapExecutor,
    ParallelFlowExecutor,
)
from loom.runtime.executors.tool import ApiExecutor, ToolExecutor
from loom.runtime.executors.unsupported import Unsupported
from loom.runtime.plan import ExecutorFactory
from loom.spec import nodes

FACTORIES: dict[type, ExecutorFactory] = {
    nodes.ToolNode: ToolExecutor,
    nodes.LlmNode: LlmExecutor,
    nodes.OutputMessageNode: OutputMessageExecutor,
    nodes.BranchingNode: BranchingExecutor,
    nodes.FlowNode: FlowNodeExecutor,
    nodes.CatchExceptionNode: CatchExceptionExecutor,
    nodes.MapNode: MapExecutor,
    nodes.ParallelFlowNode: ParallelFlowExecutor,
    nodes.ApiNode: ApiExecutor,
    nodes.InputMessageNode: InputMessageExecutor,
    nodes.AgentNode: AgentNodeExecutor,
    nodes.Node: Unsupported,  # any other node: fails clearly when reached
}

__all__ = ["FACTORIES"]
