"""Compiling a validated flow into a plan: compile once, run many.

For each node the plan holds its executor, the slot each input reads, the
slots each output writes, and the successor per branch. A run allocates only a
list of slot values, so one plan serves any number of concurrent runs and the
engine's loop does no graph look-ups.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from loom._cache import IdentityCache
from loom.runtime.keys import step_names
from loom.runtime.runnable import refuse_unrunnable
from loom.runtime.values import Converter, converter
from loom.spec.flows.checks import edge_branch
from loom.spec.flows.flow import Flow
from loom.spec.nodes.base import EndNode, Node, StartNode
from loom.spec.property import Property

if TYPE_CHECKING:
    from loom.runtime.context import RunContext


SyncRun = Callable[[dict[str, Any], asyncio.AbstractEventLoop], tuple[dict[str, Any], str]]


class Executor:
    """Runs one kind of node: inputs in, (outputs, branch taken) out. Each one
    declares what the compiler reads into the NodePlan: ``journaled`` (the engine
    records the result, replayed on resume) and ``threaded`` (``sync_run`` may be
    called from a worker thread)."""

    journaled: bool
    threaded: bool

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        raise NotImplementedError

    def sync_run(
        self, inputs: dict[str, Any], loop: asyncio.AbstractEventLoop
    ) -> tuple[dict[str, Any], str]:
        raise NotImplementedError(f"{type(self).__name__} is not threaded")


@dataclass(frozen=True, slots=True)
class InputSlot:
    title: str
    slot: int
    default: Any  # EMPTY when there is none
    convert: Converter | None  # to the declared type; None: values pass as they are


@dataclass(frozen=True, slots=True)
class FlowValue:
    """A flow input or output, with what the engine needs read out of its schema once."""

    title: str
    default: Any  # EMPTY when there is none
    convert: Converter | None
    schema: dict[str, Any]

    @classmethod
    def of(cls, prop: Property) -> FlowValue:
        return cls(prop.title, prop.default, converter(prop.json_schema), prop.json_schema)


@dataclass(slots=True)
class NodePlan:
    index: int
    node: Node
    name: str
    executor: Executor | None
    inputs: tuple[InputSlot, ...] = ()
    pushes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    successors: dict[str, int] = field(default_factory=dict)
    is_end: bool = False
    journaled: bool = False
    # For a sync tool that runs in a worker thread: the call, made from that thread.
    sync_run: SyncRun | None = None


@dataclass(slots=True)
class FlowPlan:
    flow: Flow
    name: str
    nodes: tuple[NodePlan, ...]
    start: int
    slot_count: int
    inputs: tuple[FlowValue, ...]
    outputs: tuple[FlowValue, ...]


class ExecutorFactory(Protocol):
    def __call__(self, node: Any, compiler: Compiler) -> Executor: ...


PLANS_KEPT = 256
"""Plans kept per Compiler: a plan refers to its flow, so only this bounds them."""


class Compiler:
    """Turns flows into plans, reusing the plan of a flow seen recently."""

    def __init__(self, factories: dict[type, ExecutorFactory], services: Any) -> None:
        self.factories = factories
        self.services = services
        self._plans: IdentityCache[Flow, FlowPlan] = IdentityCache(PLANS_KEPT)

    def plan(self, flow: Flow) -> FlowPlan:
        return self._plans.get_or_make(flow, lambda: self._compile(flow))

    def executor(self, node: Node) -> Executor:
        """The factory of the node's nearest class makes it (``Node``'s: nodes not supported)."""
        for cls in type(node).__mro__:
            factory = self.factories.get(cls)
            if factory is not None:
                return factory(node, self)
        raise LookupError(f"no executor factory for {type(node).__name__}, nor for Node")

    def _compile(self, flow: Flow) -> FlowPlan:
        overrides = getattr(self.services, "llm_overrides", None) or {}
        refuse_unrunnable(flow, bool(overrides.get("url")))
        index = {node.id: i for i, node in enumerate(flow.nodes)}
        slots: dict[Any, int] = {}

        def slot(key: Any) -> int:
            return slots.setdefault(key, len(slots))

        named = flow.data_flow_connections is None
        pushes: list[dict[str, list[int]]] = [{} for _ in flow.nodes]
        node_inputs: list[tuple[InputSlot, ...]] = []
        for node in flow.nodes:
            entries = []
            for prop in node.inputs or []:
                key = prop.title if named else (node.id, prop.title)
                entries.append(
                    InputSlot(prop.title, slot(key), prop.default, converter(prop.json_schema))
                )
            node_inputs.append(tuple(entries))
        if named:
            for i, node in enumerate(flow.nodes):
                for prop in node.outputs or []:
                    if prop.title in slots:
                        pushes[i].setdefault(prop.title, []).append(slots[prop.title])
        else:
            for edge in flow.data_flow_connections or []:
                target = slots[(edge.destination_node.id, edge.destination_input)]
                outputs = pushes[index[edge.source_node.id]]
                outputs.setdefault(edge.source_output, []).append(target)
        successors: list[dict[str, int]] = [{} for _ in flow.nodes]
        for control in flow.control_flow_connections:
            # The first edge of a (node, branch) wins; load warned about any other.
            successors[index[control.from_node.id]].setdefault(
                edge_branch(control), index[control.to_node.id]
            )
        plans = []
        names = step_names([node.name for node in flow.nodes])
        for i, node in enumerate(flow.nodes):
            special = isinstance(node, (StartNode, EndNode))
            executor = None if special else self.executor(node)
            plans.append(
                NodePlan(
                    index=i,
                    node=node,
                    name=names[i],
                    executor=executor,
                    inputs=node_inputs[i],
                    pushes=tuple((title, tuple(t)) for title, t in pushes[i].items()),
                    successors=successors[i],
                    is_end=isinstance(node, EndNode),
                    journaled=executor is not None and executor.journaled,
                    sync_run=executor.sync_run if executor is not None and executor.threaded
                    else None,
                )
            )
        return FlowPlan(
            flow=flow,
            name=flow.name,
            nodes=tuple(plans),
            start=index[flow.start_node.id],
            slot_count=len(slots),
            inputs=tuple(FlowValue.of(p) for p in flow.inputs or []),
            outputs=tuple(FlowValue.of(p) for p in flow.outputs or []),
        )

