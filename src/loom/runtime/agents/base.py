"""What every runner of an agentic component shares: modes, outcomes, contexts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from loom.errors import NodeFailure
from loom.runtime.agents.calls import AgentTool, Goal
from loom.runtime.agents.conversation import Thread
from loom.runtime.context import RunContext
from loom.runtime.journal import Suspended
from loom.runtime.keys import child_key
from loom.runtime.services import node_option
from loom.spec.component import AgenticComponent
from loom.spec.nodes import NEXT
from loom.spec.property import Property

Mode = Literal["node", "chat", "delegate"]
"""How an agent ends its turn: ``node`` (an AgentNode: when it answers and nothing
is pending), ``chat`` (the top level: it waits for the user's next message),
``delegate`` (asked by another agent: it answers it, never the user)."""

DEFAULT_MAX_ITERATIONS = 10
MAX_DEPTH = 64
"""Agents asking agents deeper than this are stopped: a loop between them."""

ITERATIONS_KEY = "max_iterations"
TOOL_ERRORS_KEY = "tool_errors"


@dataclass
class Outcome:
    """How an agentic component finished: its outputs, its last words, the branch
    it chose; ``handoff`` is the agent a swarm member handed the conversation to."""

    outputs: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    branch: str = NEXT
    handoff: Any = None


class Runner(Protocol):
    """Runs one agentic component."""

    component: AgenticComponent
    name: str
    description: str
    inputs: list[Property]
    outputs: list[Property]

    async def converse(
        self,
        ctx: RunContext,
        thread: Thread,
        inputs: Mapping[str, Any],
        mode: Mode,
        goal: Goal,
        extra_tools: Sequence[AgentTool] = (),
    ) -> Outcome: ...


class ComponentRunner:
    """What every runner holds of its component: the name, description, inputs
    and outputs the callers and tools see."""

    def __init__(self, component: AgenticComponent) -> None:
        self.component = component
        self.name = component.name
        self.description = component.description or ""
        self.inputs = list(component.inputs or [])
        self.outputs = list(component.outputs or [])


def iteration_limit(ctx: RunContext, configured: Any) -> int:
    """The component's own limit (``max_iterations`` in its metadata), else the
    run's (``Runtime(max_iterations=N)``), else the default."""
    return int(configured or getattr(ctx.services, "max_iterations", 0)
               or DEFAULT_MAX_ITERATIONS)


def sub_context(ctx: RunContext, name: str, key: str) -> RunContext:
    """The context of a component run by a step of ``ctx``: its name is added to
    the path (errors and waits name it), ``key`` makes its journal keys unique."""
    if len(ctx.path) > MAX_DEPTH:
        raise NodeFailure(
            f"agents asked one another more than {MAX_DEPTH} levels deep",
            ctx.path,
            hint="check the agents' instructions: two of them keep asking each other",
        )
    child = ctx.child(name)
    child.step = child_key(ctx.step, key)
    return child


def option(metadata: Mapping[str, Any] | None, key: str) -> Any:
    return node_option(metadata, key)


def input_values(props: Sequence[Property], given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults, then the given values (extra names are kept: prompts ignore them)."""
    values = {prop.title: prop.default for prop in props if prop.has_default}
    values.update(given)
    return values


async def observed(ctx: RunContext, component: AgenticComponent, inputs: Mapping[str, Any],
                   body: Callable[[], Awaitable[Outcome]]) -> Outcome:
    """Run ``body`` between ``agent_start`` and ``agent_end`` events (a wait or a
    cancellation is no end)."""
    events = ctx.run.events
    if not events.enabled:
        return await body()
    events.emit("agent_start", ctx.path, ctx.step, agent=component, inputs=dict(inputs))
    try:
        outcome = await body()
    except BaseException as exc:
        if not isinstance(exc, Suspended | asyncio.CancelledError):
            events.emit("agent_end", ctx.path, ctx.step, agent=component, error=exc)
        raise
    events.emit("agent_end", ctx.path, ctx.step, agent=component, outputs=outcome.outputs)
    return outcome
