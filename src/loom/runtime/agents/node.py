"""AgentNode: run an agentic component inside a flow, with the flow's conversation."""

from __future__ import annotations

from typing import Any

from loom.errors import PlanError
from loom.runtime.agents.base import ITERATIONS_KEY, Mode, option
from loom.runtime.agents.calls import Goal
from loom.runtime.agents.conversation import SharedView
from loom.runtime.agents.loop import AgentRunner
from loom.runtime.agents.teams import FlowRunner, make_runner
from loom.runtime.context import RunContext
from loom.runtime.plan import Compiler, Executor
from loom.spec.nodes import NEXT, AgentNode

CONVERSATION_KEY = "conversation"
CHAT = "chat"


class AgentNodeExecutor(Executor):
    """Not journaled as a whole: every LLM turn and tool call of the agent is, so
    a resumed run replays the agent's loop up to where it waited."""

    journaled = False
    threaded = False

    def __init__(self, node: AgentNode, compiler: Compiler) -> None:
        self.node = node
        self.runner = make_runner(node.agent, compiler)
        limit = option(node.metadata, ITERATIONS_KEY)
        if limit is not None:
            if not isinstance(self.runner, AgentRunner):
                raise PlanError(
                    f"AgentNode '{node.name}': max_iterations applies to an Agent, and "
                    f"this node runs a {node.agent.component_type}",
                    hint="put it in the agent's own metadata",
                )
            self.runner.max_iterations = limit
        # The implicit flow of Runtime.run(agent) marks its node: the top level of
        # a conversation, where the agent waits for the user's next message.
        top_level = option(node.metadata, CONVERSATION_KEY) == CHAT
        self.mode: Mode = "chat" if top_level else "node"
        self.top_level = top_level
        branches = list(node.branches or [NEXT])
        self.goal = Goal(list(node.outputs or []), branches if branches != [NEXT] else None)
        self.defaults = self.goal.defaults()

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        if self.top_level:
            # Name the agent alone in errors and waits, not "agent > agent".
            ctx = RunContext(ctx.services, ctx.run, ctx.path[:-1], ctx.permit, ctx.step)
        outcome = await self.runner.converse(ctx, SharedView(ctx), inputs, self.mode, self.goal)
        branch = outcome.branch
        if isinstance(self.runner, FlowRunner) and branch not in (self.node.branches or [NEXT]):
            branch = NEXT
        return {**self.defaults, **outcome.outputs}, branch
