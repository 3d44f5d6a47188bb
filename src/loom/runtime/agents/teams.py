"""Agentic components made of others: ManagerWorkers, Swarm, and a Flow run as an
agent; ``make_runner`` picks the runner of any agentic component.

A worker (or a swarm member asked by a message) talks with its caller in a
private thread that lasts as long as the team's run: the user never sees it,
and the worker remembers earlier tasks. Calls to the same worker from one
answer take turns; calls to different workers run at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from loom._optional import require
from loom.errors import NodeFailure, PlanError
from loom.runtime.agents.base import (
    ITERATIONS_KEY,
    ComponentRunner,
    Mode,
    Outcome,
    Runner,
    iteration_limit,
    option,
    sub_context,
)
from loom.runtime.agents.calls import AgentTool, Call, DelegateTool, Goal, HandoffTool
from loom.runtime.agents.conversation import PrivateThread, Thread
from loom.runtime.agents.loop import AgentRunner
from loom.runtime.context import RunContext
from loom.runtime.engine import run_flow
from loom.runtime.keys import MANAGER, activation_key
from loom.runtime.plan import Compiler
from loom.spec.agents import Agent, ManagerWorkers, SpecializedAgent, Swarm
from loom.spec.component import AgenticComponent
from loom.spec.flows.flow import Flow
from loom.spec.remote_agents import A2AAgent
from loom.spec.templates import to_text

TASK_ARGUMENT = "task"
MESSAGE_ARGUMENT = "message"


def make_runner(component: AgenticComponent, compiler: Compiler) -> Runner:
    if isinstance(component, Agent | SpecializedAgent):
        return AgentRunner(component, compiler)
    if isinstance(component, Flow):
        return FlowRunner(component, compiler)
    if isinstance(component, ManagerWorkers):
        return ManagerWorkersRunner(component, compiler)
    if isinstance(component, Swarm):
        return SwarmRunner(component, compiler)
    if isinstance(component, A2AAgent):  # outside the core, with the optional a2a-sdk
        remote: Any = require("loom.a2a", "a2a", "an A2AAgent", package="a2a-sdk")
        runner: Runner = remote.A2ARunner(component, compiler)
        return runner
    return UnsupportedRunner(component)


class FlowRunner(ComponentRunner):
    """A Flow used where an agent may be: it runs with its inputs and shares the
    run's conversation like a FlowNode (its outputs are its answer)."""

    def __init__(self, component: Flow, compiler: Compiler) -> None:
        super().__init__(component)
        self.plan = compiler.plan(component)

    async def converse(
        self,
        ctx: RunContext,
        thread: Thread,
        inputs: Mapping[str, Any],
        mode: Mode,
        goal: Goal,
        extra_tools: Sequence[AgentTool] = (),
    ) -> Outcome:
        own = {prop.title: inputs[prop.title] for prop in self.inputs if prop.title in inputs}
        outcome = await run_flow(self.plan, ctx, own)
        return Outcome(outcome.outputs, to_text(outcome.outputs), outcome.branch)


class UnsupportedRunner(ComponentRunner):
    async def converse(
        self,
        ctx: RunContext,
        thread: Thread,
        inputs: Mapping[str, Any],
        mode: Mode,
        goal: Goal,
        extra_tools: Sequence[AgentTool] = (),
    ) -> Outcome:
        raise NodeFailure(
            f"{self.component.component_type} '{self.name}' is not supported yet by loom's "
            "runtime",
            ctx.path,
            hint="run it with the platform that hosts it; loom runs Agents, Flows, Swarms "
            "and ManagerWorkers",
        )


class _Team:
    """The private threads of one team run and the turns taken on them."""

    def __init__(self) -> None:
        self.threads: dict[Any, PrivateThread] = {}
        self.locks: dict[Any, asyncio.Lock] = {}

    async def ask(
        self,
        call: Call,
        caller: str,
        member: Runner,
        thread_key: Any,
        message: str | None,
        inputs: Mapping[str, Any],
        extra_tools: Sequence[AgentTool] = (),
    ) -> str:
        sub = sub_context(call.ctx, member.name, call.key)
        goal = Goal(list(member.outputs))
        if isinstance(member, FlowRunner):
            outcome = await member.converse(sub, PrivateThread(), inputs, "delegate", goal)
            return outcome.text
        lock = self.locks.setdefault(thread_key, asyncio.Lock())
        async with lock:
            thread = self.threads.setdefault(thread_key, PrivateThread())
            thread.add({"role": "user", "content": message or "", "sender": caller})
            outcome = await member.converse(sub, thread, inputs, "delegate", goal, extra_tools)
        return to_text(outcome.outputs) if member.outputs else outcome.text


def _parameters(member: Runner, known: Mapping[str, Any]) -> list[Any]:
    """A member's inputs the team cannot fill: the caller passes them."""
    return [prop for prop in member.inputs if prop.title not in known]


class ManagerWorkersRunner(ComponentRunner):
    """The manager talks to the user; it gets one tool per worker to give it a task."""

    def __init__(self, component: ManagerWorkers, compiler: Compiler) -> None:
        super().__init__(component)
        manager = make_runner(component.group_manager, compiler)
        if not isinstance(manager, AgentRunner):
            raise PlanError(
                f"ManagerWorkers '{self.name}': the group manager "
                f"'{component.group_manager.name}' is a {component.group_manager.component_type}; "
                "loom needs an Agent there, to give it its workers as tools",
            )
        self.manager = manager
        self.workers = [make_runner(worker, compiler) for worker in component.workers]

    async def converse(
        self,
        ctx: RunContext,
        thread: Thread,
        inputs: Mapping[str, Any],
        mode: Mode,
        goal: Goal,
        extra_tools: Sequence[AgentTool] = (),
    ) -> Outcome:
        team = _Team()
        tools = [self._assign(team, worker, inputs) for worker in self.workers]
        manager_ctx = sub_context(ctx, self.manager.name, MANAGER)
        return await self.manager.converse(
            manager_ctx, thread.fresh(manager_ctx), inputs, mode, goal, [*extra_tools, *tools]
        )

    def _assign(self, team: _Team, worker: Runner, team_inputs: Mapping[str, Any]) -> AgentTool:
        manager = self.manager.name

        async def deliver(call: Call, message: str | None, values: dict[str, Any]) -> str:
            return await team.ask(call, manager, worker, worker.name, message,
                                  {**team_inputs, **values})

        about = f": {worker.description}" if worker.description else ""
        if isinstance(worker, FlowRunner):
            description = (f"Run the flow '{worker.name}'{about}. Returns its outputs as JSON.")
            return DelegateTool(worker.name, description, _parameters(worker, team_inputs),
                                deliver, None)
        description = (f"Give a task to your worker '{worker.name}'{about}. It works on it with "
                       "its own tools and reports back; it does not see your conversation, "
                       "so say everything it needs.")
        return DelegateTool(worker.name, description, _parameters(worker, team_inputs), deliver,
                            TASK_ARGUMENT)


class SwarmRunner(ComponentRunner):
    """Agents that message each other or hand the user's conversation over,
    along the swarm's relationships and per its ``handoff`` mode."""

    def __init__(self, component: Swarm, compiler: Compiler) -> None:
        super().__init__(component)
        self.members: dict[str, Runner] = {
            agent.id: make_runner(agent, compiler) for agent in component.agents
        }
        first = self.members[component.first_agent.id]
        if not isinstance(first, AgentRunner):
            raise PlanError(
                f"Swarm '{self.name}': its first agent '{component.first_agent.name}' is a "
                f"{component.first_agent.component_type}; loom needs an Agent there",
            )
        self.first = first
        self.recipients: dict[int, list[Runner]] = {
            id(self.members[agent.id]): [self.members[r.id] for r in component.recipients(agent)]
            for agent in component.agents
        }
        self.mode = component.handoff
        self.max_handoffs = option(component.metadata, ITERATIONS_KEY)

    async def converse(
        self,
        ctx: RunContext,
        thread: Thread,
        inputs: Mapping[str, Any],
        mode: Mode,
        goal: Goal,
        extra_tools: Sequence[AgentTool] = (),
    ) -> Outcome:
        team = _Team()
        limit = iteration_limit(ctx, self.max_handoffs)
        active: AgentRunner = self.first
        activation = 0
        while True:
            activation += 1
            if activation > limit + 1:
                raise NodeFailure(
                    f"the agents of swarm '{self.name}' handed the conversation over {limit} "
                    "times without finishing",
                    ctx.path,
                    hint='raise it with metadata {"loom": {"max_iterations": N}} on the swarm',
                )
            agent_ctx = sub_context(ctx, active.name, activation_key(activation))
            tools = self._tools(team, active, inputs, active_agent=True)
            outcome = await active.converse(agent_ctx, thread.fresh(agent_ctx), inputs, mode,
                                            goal, [*extra_tools, *tools])
            if outcome.handoff is None:
                return outcome
            active = outcome.handoff

    def _tools(
        self, team: _Team, caller: Runner, inputs: Mapping[str, Any], active_agent: bool
    ) -> list[AgentTool]:
        tools: list[AgentTool] = []
        for recipient in self.recipients.get(id(caller), []):
            about = f" ({recipient.description})" if recipient.description else ""
            if self.mode != "always":
                tools.append(self._send(team, caller, recipient, inputs, about))
            if self.mode != "never" and active_agent and isinstance(recipient, AgentRunner):
                tools.append(HandoffTool(
                    f"handoff_to_{recipient.name}",
                    f"Hand the conversation with the user over to '{recipient.name}'{about}: "
                    "it answers the user from now on, and you stop.",
                    recipient, recipient.name,
                ))
        return tools

    def _send(self, team: _Team, caller: Runner, recipient: Runner,
              inputs: Mapping[str, Any], about: str) -> AgentTool:
        async def deliver(call: Call, message: str | None, values: dict[str, Any]) -> str:
            extra = self._tools(team, recipient, inputs, active_agent=False)
            return await team.ask(call, caller.name, recipient, (caller.name, recipient.name),
                                  message, {**inputs, **values}, extra)

        return DelegateTool(
            f"send_message_to_{recipient.name}",
            f"Send a message to '{recipient.name}'{about} and wait for its answer; the user "
            "keeps talking to you.",
            _parameters(recipient, inputs), deliver,
            None if isinstance(recipient, FlowRunner) else MESSAGE_ARGUMENT,
        )
