"""The structural rules of a flow: start, ends, edges, wiring, types.

Kept apart from ``Flow`` so the class reads as data and this module as the
rulebook. ``check_flow`` raises SpecError on the first broken rule and returns
warnings for things that are legal but suspicious.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

from loom.spec.nodes.base import NEXT, EndNode, Node, StartNode
from loom.spec.nodes.llm import LlmNode
from loom.spec.nodes.messages import InputMessageNode, OutputMessageNode
from loom.spec.property import Property, by_title
from loom.spec.types import describe_type, is_castable

if TYPE_CHECKING:
    from loom.spec.flows.edges import ControlFlowEdge
    from loom.spec.flows.flow import Flow

DEFAULT_BRANCH = "default"
# Set by a non-strict load: a type mismatch on a data edge is then a warning, as
# the SDK's loader lets such files through; Python authoring and strict loads refuse it.
LENIENT_TYPES: ContextVar[bool] = ContextVar("LENIENT_TYPES", default=False)
# Nodes whose inputs only fill {{placeholders}}: any value renders as text there.
TEMPLATE_NODES = (LlmNode, OutputMessageNode, InputMessageNode)


def edge_branch(edge: ControlFlowEdge) -> str:
    """The branch an edge leaves by.

    ``null`` means ``next``; on a node that has no ``next`` but a ``default``
    branch (a BranchingNode), it means ``default``. A BranchingNode edge that names
    a mapping key instead of a branch (as some SDK test files do) means the
    branch that key maps to.
    """
    branches = edge.from_node.branches or []
    if edge.from_branch is not None:
        mapping = getattr(edge.from_node, "mapping", None)
        if edge.from_branch not in branches and isinstance(mapping, dict):
            return str(mapping.get(edge.from_branch, edge.from_branch))
        return edge.from_branch
    if NEXT not in branches and DEFAULT_BRANCH in branches:
        return DEFAULT_BRANCH
    return NEXT


def _node_label(node: Node) -> str:
    return f"{node.component_type} '{node.name}'"


def check_flow(flow: Flow) -> list[str]:
    notes: list[str] = []
    ids = {node.id for node in flow.nodes}
    _check_start(flow, ids)
    _check_control_edges(flow, ids, notes)
    _check_data_edges(flow, ids, notes)
    _check_inputs_fed(flow, notes)
    names: dict[str, list[str]] = {}
    for node in flow.nodes:
        names.setdefault(node.name, []).append(node.id)
    notes += [f"{len(i)} nodes are named '{n}' (ids {', '.join(i)}): runs name the later "
              f"{'ones' if len(i) > 2 else 'one'} "
              f"{', '.join(repr(f'{n}@{k}') for k in range(2, len(i) + 1))} by their order; "
              "give them distinct names"
              for n, i in names.items() if len(i) > 1]
    return notes


def _check_start(flow: Flow, ids: set[str]) -> None:
    starts = [node for node in flow.nodes if isinstance(node, StartNode)]
    if len(starts) != 1:
        raise flow.error(
            f"a flow needs exactly one StartNode in 'nodes', found {len(starts)}",
            hint="keep one StartNode and point 'start_node' at it",
        )
    if not isinstance(flow.start_node, StartNode) or flow.start_node.id != starts[0].id:
        raise flow.error(
            f"'start_node' must be the flow's StartNode '{starts[0].name}'",
            hint="set start_node to the StartNode listed in 'nodes'",
        )
    if not any(isinstance(node, EndNode) for node in flow.nodes):
        raise flow.error("a flow needs at least one EndNode", hint="add an EndNode to 'nodes'")


def _check_control_edges(flow: Flow, ids: set[str], notes: list[str]) -> None:
    taken: dict[tuple[str, str], ControlFlowEdge] = {}
    incoming: dict[str, int] = {}
    for edge in flow.control_flow_connections:
        for role, node in (("from_node", edge.from_node), ("to_node", edge.to_node)):
            if node.id not in ids:
                raise edge.error(
                    f"{role} {_node_label(node)} is not a node of flow '{flow.name}'",
                    hint="add the node to the flow's 'nodes' or fix the edge",
                )
        if isinstance(edge.from_node, EndNode):
            raise edge.error(
                f"EndNode '{edge.from_node.name}' cannot have an outgoing control edge",
                hint="an EndNode ends the flow; remove the edge",
            )
        if isinstance(edge.to_node, StartNode):
            raise edge.error(
                f"StartNode '{edge.to_node.name}' cannot have an incoming control edge",
                hint="loop back to the node after the StartNode instead",
            )
        branch = edge_branch(edge)
        branches = edge.from_node.branches or []
        if branch not in branches:
            raise edge.error(
                f"{_node_label(edge.from_node)} has no branch '{branch}'",
                hint=f"use one of {branches}",
            )
        if edge.from_branch is not None and edge.from_branch != branch:
            notes.append(
                f"control edge '{edge.name}' leaves {_node_label(edge.from_node)} by "
                f"'{edge.from_branch}', a mapping key, not a branch: read as branch '{branch}'"
            )
        if edge.from_branch is None and branch != NEXT:
            notes.append(
                f"control edge '{edge.name}' has from_branch null on "
                f"{_node_label(edge.from_node)}, which has no 'next' branch: read as '{branch}'"
            )
        key = (edge.from_node.id, branch)
        if key in taken:
            notes.append(
                f"{_node_label(edge.from_node)} has two control edges for branch '{branch}' "
                f"('{taken[key].name}' and '{edge.name}'): loom follows the first; control "
                "flow never forks through edges (use a ParallelFlowNode)"
            )
        else:
            taken[key] = edge
        incoming[edge.to_node.id] = incoming.get(edge.to_node.id, 0) + 1
    start = flow.start_node
    if sum(1 for (node_id, _) in taken if node_id == start.id) != 1:
        raise flow.error(
            f"StartNode '{start.name}' needs exactly one outgoing control edge",
            hint="connect the StartNode to the first node of the flow",
        )
    for node in flow.nodes:
        if isinstance(node, EndNode) and not incoming.get(node.id):
            raise flow.error(
                f"EndNode '{node.name}' is never reached: no control edge leads to it",
                hint="connect a node to it or remove it",
            )
        for branch in node.branches or []:
            if (node.id, branch) not in taken:
                notes.append(
                    f"branch '{branch}' of {_node_label(node)} has no control edge; "
                    "the run fails if it is taken"
                )


def _check_data_edges(flow: Flow, ids: set[str], notes: list[str]) -> None:
    # Title -> property per node, built once: a ParallelFlowNode may have hundreds of
    # outputs, each read by an edge.
    inputs = {node.id: by_title(node.inputs) for node in flow.nodes}
    outputs = {node.id: by_title(node.outputs) for node in flow.nodes}
    for edge in flow.data_flow_connections or []:
        for role, node in (
            ("source_node", edge.source_node),
            ("destination_node", edge.destination_node),
        ):
            if node.id not in ids:
                raise edge.error(
                    f"{role} {_node_label(node)} is not a node of flow '{flow.name}'",
                    hint="data edges connect nodes of the same flow; subflows get data "
                    "through their wrapping node's inputs",
                )
        source = outputs[edge.source_node.id].get(edge.source_output)
        if source is None:
            raise edge.error(
                f"{_node_label(edge.source_node)} has no output '{edge.source_output}'",
                hint=f"its outputs are {[p.title for p in edge.source_node.outputs or []]}",
            )
        dest = inputs[edge.destination_node.id].get(edge.destination_input)
        if dest is None:
            raise edge.error(
                f"{_node_label(edge.destination_node)} has no input '{edge.destination_input}'",
                hint=f"its inputs are {[p.title for p in edge.destination_node.inputs or []]}",
            )
        if not is_castable(source.json_schema, dest.json_schema):
            if isinstance(edge.destination_node, TEMPLATE_NODES):
                notes.append(
                    f"data edge '{edge.name}': output '{source.title}' "
                    f"({describe_type(source.json_schema)}) feeds placeholder '{dest.title}' "
                    f"declared {describe_type(dest.json_schema)}; the value is rendered as text"
                )
                continue
            mismatch = edge.error(
                f"output '{source.title}' of {_node_label(edge.source_node)} "
                f"({describe_type(source.json_schema)}) cannot feed input '{dest.title}' of "
                f"{_node_label(edge.destination_node)} ({describe_type(dest.json_schema)})",
                hint="change one of the two types, or go through a string input",
            )
            if not LENIENT_TYPES.get():
                raise mismatch
            notes.append(f"{mismatch.describe()} (accepted outside strict mode)")


def _check_inputs_fed(flow: Flow, notes: list[str]) -> None:
    """An input with no producer and no default can never get a value.

    When an output of the node just before it is read by nothing and could feed
    it, the wiring is plainly wrong (a misnamed edge): that is an error naming
    the fix. Otherwise the SDK accepts such flows, so loom warns, and a run that
    reaches the node fails there.
    """
    if flow.data_flow_connections is None:
        produced = {p.title for node in flow.nodes for p in node.outputs or []}

        def fed(node: Node, prop: Property) -> bool:
            return prop.title in produced

        consumed: set[tuple[str, str]] | None = None
    else:
        edges = flow.data_flow_connections
        wired = {(e.destination_node.id, e.destination_input) for e in edges}
        consumed = {(e.source_node.id, e.source_output) for e in edges}

        def fed(node: Node, prop: Property) -> bool:
            return (node.id, prop.title) in wired

    for node in flow.nodes:
        if isinstance(node, StartNode):
            continue
        for prop in node.inputs or []:
            if prop.has_default or fed(node, prop):
                continue
            message = (
                f"input '{prop.title}' of {_node_label(node)} is fed by no data edge "
                "and has no default, so the node can never run"
            )
            unused = [] if consumed is None else _unused_outputs_before(flow, node, prop, consumed)
            if unused:
                # About the node: the message names it and the loader points at it.
                raise node.error(
                    f"input '{prop.title}' is fed by no data edge of flow '{flow.name}' and "
                    "has no default, so the node can never run",
                    hint=f"{unused[0]} is read by nothing: connect it to '{prop.title}' with a "
                    "DataFlowEdge, or give the input a default",
                )
            notes.append(f"{message} ({_feed_hint(flow, node, prop)})")


def _unused_outputs_before(
    flow: Flow, node: Node, prop: Property, consumed: set[tuple[str, str]]
) -> list[str]:
    before = [e.from_node for e in flow.control_flow_connections if e.to_node.id == node.id]
    return [
        f"output '{out.title}' of {_node_label(other)}"
        for other in before
        for out in other.outputs or []
        if (other.id, out.title) not in consumed and is_castable(out.json_schema, prop.json_schema)
    ]


def _feed_hint(flow: Flow, node: Node, prop: Property) -> str:
    # Outputs of the nodes that run just before this one are the likely fix.
    before = [e.from_node for e in flow.control_flow_connections if e.to_node.id == node.id]
    before_ids = {n.id for n in before}
    others = [n for n in flow.nodes if n.id not in before_ids and not isinstance(n, EndNode)]
    candidates = [
        f"output '{out.title}' of {_node_label(other)}"
        for other in [*before, *others]
        if other.id != node.id
        for out in other.outputs or []
        if is_castable(out.json_schema, prop.json_schema)
    ]
    if candidates:
        listed = "; ".join(candidates[:3])
        return f"connect it with a DataFlowEdge (likely: {listed}) or give the input a default"
    return "connect it with a DataFlowEdge or give the input a default"
