"""``Runtime.run(agent)``: an agentic component runs as an implicit flow
StartNode -> AgentNode -> EndNode, whose AgentNode is the top of a conversation
(the agent waits for the user's next message instead of finishing)."""

from __future__ import annotations

from loom._cache import IdentityCache
from loom.errors import LoadError
from loom.runtime.agents.base import option
from loom.runtime.agents.node import CHAT, CONVERSATION_KEY
from loom.spec.component import AgenticComponent, Component
from loom.spec.flows.edges import ControlFlowEdge
from loom.spec.flows.flow import Flow
from loom.spec.nodes import AgentNode, EndNode, StartNode

IMPLICIT_KEY = "implicit_flow"
# An implicit flow refers to its agent, so only the bound frees them.
_flows: IdentityCache[AgenticComponent, Flow] = IdentityCache(256)


def as_flow(component: Component) -> Flow:
    """The flow that runs ``component``: itself if it is a Flow, else its implicit
    flow (the same Flow object for the same component, so plans are reused)."""
    if isinstance(component, Flow):
        return component
    if not isinstance(component, AgenticComponent):
        raise LoadError(
            f"{component.component_type} '{component.name}' cannot be run: loom runs Flows "
            "and agents (Agent, SpecializedAgent, Swarm, ManagerWorkers)",
            hint="run a configuration whose root is one of those",
        )
    return _flows.get_or_make(component, lambda: _implicit_flow(component))


def is_implicit(flow: Flow) -> bool:
    """True for the flow ``as_flow`` made around an agent."""
    return bool(option(flow.metadata, IMPLICIT_KEY))


def _implicit_flow(component: AgenticComponent) -> Flow:
    inputs = list(component.inputs or [])
    outputs = list(component.outputs or [])
    start = StartNode(name="start", id=f"{component.id}.start", inputs=inputs)
    node = AgentNode(
        name=component.name,
        id=f"{component.id}.node",
        agent=component,
        inputs=inputs,
        outputs=outputs,
        metadata={"loom": {CONVERSATION_KEY: CHAT}},
    )
    end = EndNode(name="end", id=f"{component.id}.end", inputs=outputs)
    return Flow(
        name=component.name,
        id=f"{component.id}.flow",
        description=component.description,
        start_node=start,
        nodes=[start, node, end],
        control_flow_connections=[
            ControlFlowEdge(name="start_to_agent", id=f"{component.id}.edge1",
                            from_node=start, to_node=node),
            ControlFlowEdge(name="agent_to_end", id=f"{component.id}.edge2",
                            from_node=node, to_node=end),
        ],
        data_flow_connections=None,
        inputs=inputs,
        outputs=outputs,
        metadata={"loom": {IMPLICIT_KEY: True}},
    )
