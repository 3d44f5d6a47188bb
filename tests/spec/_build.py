"""Small builders for flows in tests: nodes by name, edges by (node, node) pairs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from loom.spec import ControlFlowEdge, DataFlowEdge, EndNode, Flow, Node, StartNode
from loom.spec.llms import LlmConfig
from loom.spec.property import Property
from loom.spec.tools import ServerTool


def llm_config(id: str = "llm") -> LlmConfig:
    return LlmConfig(id=id, name=id, model_id="fake-model", url="http://127.0.0.1:18765/v1")


def tool(name: str, inputs: Sequence[Property] = (), outputs: Sequence[Property] = ()) -> ServerTool:
    return ServerTool(id=name, name=name, inputs=list(inputs), outputs=list(outputs))


def control(*pairs: tuple[Node, Node] | tuple[Node, Node, str]) -> list[ControlFlowEdge]:
    edges = []
    for pair in pairs:
        source, dest = pair[0], pair[1]
        branch = pair[2] if len(pair) == 3 else None
        label = f"{source.name}->{dest.name}" + (f"[{branch}]" if branch else "")
        edges.append(
            ControlFlowEdge(id=label, name=label, from_node=source, from_branch=branch, to_node=dest)
        )
    return edges


def data(*wires: tuple[Node, str, Node, str]) -> list[DataFlowEdge]:
    return [
        DataFlowEdge(
            id=f"{s.name}.{o}->{d.name}.{i}",
            name=f"{s.name}.{o}->{d.name}.{i}",
            source_node=s,
            source_output=o,
            destination_node=d,
            destination_input=i,
        )
        for s, o, d, i in wires
    ]


def chain(
    name: str,
    middle: Sequence[Node],
    inputs: Iterable[Property] = (),
    outputs: Iterable[Property] = (),
    wires: Sequence[tuple[Node | str, str, Node | str, str]] | None = None,
    **flow_fields: object,
) -> Flow:
    """start -> middle[0] -> ... -> end, with the given data edges (None: name-based).

    In ``wires``, the strings "start" and "end" stand for the nodes this builds.
    """
    start = StartNode(id=f"{name}_start", name=f"{name}_start", inputs=list(inputs))
    end = EndNode(id=f"{name}_end", name=f"{name}_end", inputs=list(outputs))
    nodes = [start, *middle, end]
    named = {"start": start, "end": end}

    def node(value: Node | str) -> Node:
        return named[value] if isinstance(value, str) else value

    edges = None if wires is None else data(*[(node(s), o, node(d), i) for s, o, d, i in wires])
    return Flow(
        id=name,
        name=name,
        start_node=start,
        nodes=nodes,
        control_flow_connections=control(*zip(nodes, nodes[1:], strict=False)),
        data_flow_connections=edges,
        **flow_fields,  # type: ignore[arg-type]
    )


def start_of(flow: Flow) -> StartNode:
    return flow.start_node  # type: ignore[return-value]


def end_of(flow: Flow) -> EndNode:
    return flow.end_nodes[0]
