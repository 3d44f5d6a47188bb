"""Agents on the flow engine: the Agent loop, AgentNode, ManagerWorkers, Swarm.

An agent's LLM turns and tool calls are journaled effects (``ctx.effect``) and
client tools, confirmations and the user's next message are waits
(``ctx.wait``), so an agent's run waits, resumes and replays like any flow.
``Runtime.run(agent)`` runs it through an implicit one-AgentNode flow.
"""

from loom.runtime.agents.base import DEFAULT_MAX_ITERATIONS, Mode, Outcome
from loom.runtime.agents.calls import SUBMIT_TOOL, Goal
from loom.runtime.agents.node import AgentNodeExecutor
from loom.runtime.agents.teams import make_runner
from loom.runtime.agents.wrap import as_flow, is_implicit

__all__ = [
    "DEFAULT_MAX_ITERATIONS",
    "SUBMIT_TOOL",
    "AgentNodeExecutor",
    "Goal",
    "Mode",
    "Outcome",
    "as_flow",
    "is_implicit",
    "make_runner",
]
