"""Pictures of flows: Graphviz (DOT, SVG, PNG) and Mermaid.

:func:`build_graph` reads a component into a small graph model: a flow's nodes
and control edges (labelled with their branch), optionally its data edges, and
the subflows of ParallelFlowNode, MapNode/ParallelMapNode, FlowNode and
CatchExceptionNode as nested clusters (a ParallelFlowNode's subflows side by
side inside its box). Any other component (an agent, a swarm, an LLM config)
is drawn as the tree of the components it holds, each edge labelled with the
field that holds the child.

:func:`to_dot` and :func:`to_mermaid` write that model as text; :func:`render`
turns DOT into SVG or PNG with Graphviz (the ``graphviz`` package and the
``dot`` program).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loom._optional import require
from loom.errors import GraphError
from loom.spec.component import Component
from loom.spec.flows.flow import Flow
from loom.spec.nodes import (
    AgentNode,
    ApiNode,
    BranchingNode,
    CatchExceptionNode,
    EndNode,
    FlowNode,
    InputMessageNode,
    LlmNode,
    MapNode,
    OutputMessageNode,
    ParallelFlowNode,
    ParallelMapNode,
    StartNode,
    ToolNode,
)
from loom.spec.nodes.base import NEXT, Node
from loom.spec.walk import children

# Colours and shapes per kind of node: (shape, fill, border).
STYLES: dict[str, tuple[str, str, str]] = {
    "start": ("oval", "#e5e7eb", "#4b5563"),
    "end": ("oval", "#e5e7eb", "#4b5563"),
    "llm": ("box", "#dbeafe", "#2563eb"),
    "tool": ("box", "#dcfce7", "#16a34a"),
    "agent": ("box", "#f3e8ff", "#9333ea"),
    "branch": ("diamond", "#fef3c7", "#d97706"),
    "api": ("box", "#e0f2fe", "#0284c7"),
    "message": ("box", "#ffedd5", "#ea580c"),
    "node": ("box", "#f3f4f6", "#6b7280"),
    "component": ("box", "#f9fafb", "#6b7280"),
}
CLUSTER_STYLES: dict[str, tuple[str, str]] = {
    "parallel": ("#f5f3ff", "#7c3aed"),
    "map": ("#fdf4ff", "#c026d3"),
    "subflow": ("#f8fafc", "#64748b"),
    "flow": ("#ffffff", "#94a3b8"),
}
DATA_COLOUR = "#0369a1"


@dataclass
class GraphNode:
    id: str
    name: str
    type: str
    kind: str
    detail: str = ""


@dataclass
class Cluster:
    id: str
    name: str
    type: str
    kind: str
    detail: str = ""
    nodes: list[str] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    entry: str | None = None
    exit: str | None = None


@dataclass
class GraphEdge:
    source: str
    target: str
    label: str = ""
    kind: str = "control"  # control, data, implicit (data wired by name), field
    source_cluster: str | None = None
    target_cluster: str | None = None


@dataclass
class Graph:
    title: str
    root: Cluster
    nodes: dict[str, GraphNode] = field(default_factory=dict)
    edges: list[GraphEdge] = field(default_factory=list)


def _kind(node: Component) -> str:
    if isinstance(node, StartNode):
        return "start"
    if isinstance(node, EndNode):
        return "end"
    if isinstance(node, LlmNode):
        return "llm"
    if isinstance(node, ToolNode):
        return "tool"
    if isinstance(node, AgentNode):
        return "agent"
    if isinstance(node, BranchingNode):
        return "branch"
    if isinstance(node, ApiNode):
        return "api"
    if isinstance(node, (InputMessageNode, OutputMessageNode)):
        return "message"
    return "node" if isinstance(node, Node) else "component"


def _detail(node: Component) -> str:
    if isinstance(node, ToolNode):
        return f"tool: {node.tool.name}"
    if isinstance(node, LlmNode):
        return f"llm: {node.llm_config.name}"
    if isinstance(node, AgentNode):
        return f"agent: {node.agent.name}"
    if isinstance(node, ApiNode):
        return f"{node.http_method} {node.url}"[:48]
    if isinstance(node, EndNode) and node.branch_name != NEXT:
        return f"branch: {node.branch_name}"
    return ""


def _subflows(node: Node) -> tuple[str, list[Flow], str] | None:
    """(cluster kind, subflows, detail) for a node that runs subflows."""
    if isinstance(node, ParallelFlowNode):
        return "parallel", list(node.subflows), "subflows run at the same time"
    if isinstance(node, ParallelMapNode):
        return "map", [node.subflow], "each item, at the same time"
    if isinstance(node, MapNode):
        return "map", [node.subflow], "each item, in order"
    if isinstance(node, CatchExceptionNode):
        return "subflow", [node.subflow], "failures take caught_exception_branch"
    if isinstance(node, FlowNode):
        return "subflow", [node.subflow], ""
    return None


class _Builder:
    def __init__(self, data: bool) -> None:
        self.data = data
        self.count = 0
        self.graph: Graph | None = None

    def new_id(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def flow(self, flow: Flow) -> Graph:
        root = Cluster(self.new_id("c"), flow.name, "Flow", "flow")
        self.graph = Graph(flow.name, root)
        self._add_flow(flow, root)
        return self.graph

    def _add_flow(self, flow: Flow, cluster: Cluster) -> None:
        assert self.graph is not None
        graph = self.graph
        # node id -> (graph node or cluster id, entry node, exit node, cluster id or None)
        places: dict[str, tuple[str, str | None, str | None, str | None]] = {}
        for node in flow.nodes:
            sub = _subflows(node) if isinstance(node, Node) else None
            if sub is None:
                gid = self.new_id("n")
                graph.nodes[gid] = GraphNode(gid, node.name, node.component_type, _kind(node),
                                             _detail(node))
                cluster.nodes.append(gid)
                places[node.id] = (gid, gid, gid, None)
                continue
            kind, flows, detail = sub
            inner = Cluster(self.new_id("c"), node.name, node.component_type, kind, detail)
            for subflow in flows:
                sub_cluster = Cluster(self.new_id("c"), subflow.name, "Flow", "flow")
                self._add_flow(subflow, sub_cluster)
                inner.clusters.append(sub_cluster)
            middle = inner.clusters[len(inner.clusters) // 2] if inner.clusters else None
            inner.entry = middle.entry if middle else None
            inner.exit = middle.exit if middle else None
            if inner.entry is None:  # no subflow: an anchor keeps the box drawable
                anchor = self.new_id("n")
                graph.nodes[anchor] = GraphNode(anchor, "", "", "anchor")
                inner.nodes.append(anchor)
                inner.entry = inner.exit = anchor
            cluster.clusters.append(inner)
            places[node.id] = (inner.id, inner.entry, inner.exit, inner.id)
        start = places.get(flow.start_node.id)
        cluster.entry = start[1] if start else None
        ends = [places[n.id][2] for n in flow.nodes if isinstance(n, EndNode) and n.id in places]
        cluster.exit = ends[0] if ends else cluster.entry
        for edge in flow.control_flow_connections:
            source, target = places.get(edge.from_node.id), places.get(edge.to_node.id)
            if source is None or target is None or source[2] is None or target[1] is None:
                continue
            branch = edge.from_branch if edge.from_branch not in (None, NEXT) else ""
            graph.edges.append(GraphEdge(source[2], target[1], branch or "", "control",
                                         source[3], target[3]))
        if self.data:
            self._data_edges(flow, places)

    def _data_edges(
        self, flow: Flow, places: dict[str, tuple[str, str | None, str | None, str | None]]
    ) -> None:
        assert self.graph is not None
        pairs: list[tuple[Node, str, Node, str, str]] = []
        if flow.data_flow_connections is None:
            producers: dict[str, list[Node]] = {}
            for node in flow.nodes:
                for prop in node.outputs or []:
                    producers.setdefault(prop.title, []).append(node)
            for node in flow.nodes:
                for prop in node.inputs or []:
                    for producer in producers.get(prop.title, []):
                        if producer.id != node.id:
                            pairs.append((producer, prop.title, node, prop.title, "implicit"))
        else:
            for edge in flow.data_flow_connections:
                pairs.append((edge.source_node, edge.source_output, edge.destination_node,
                              edge.destination_input, "data"))
        for source_node, output, target_node, input_, kind in pairs:
            source, target = places.get(source_node.id), places.get(target_node.id)
            if source is None or target is None or source[2] is None or target[1] is None:
                continue
            label = output if output == input_ else f"{output} → {input_}"
            self.graph.edges.append(GraphEdge(source[2], target[1], label, kind,
                                              source[3], target[3]))

    def components(self, root: Component) -> Graph:
        top = Cluster(self.new_id("c"), root.name, root.component_type, "flow")
        graph = self.graph = Graph(root.name, top)
        ids: dict[str, str] = {}
        found: list[Component] = []
        stack: list[Component] = [root]
        while stack:
            component = stack.pop()
            if component.id in ids:
                continue
            found.append(component)
            gid = ids[component.id] = self.new_id("n")
            graph.nodes[gid] = GraphNode(gid, component.name, component.component_type,
                                         _kind(component))
            top.nodes.append(gid)
            stack.extend(child for _, child in reversed(list(children(component))))
        seen: set[tuple[str, str, str]] = set()
        for component in found:
            gid = ids[component.id]
            for name, child in children(component):
                key = (gid, ids[child.id], name)
                if key not in seen:
                    seen.add(key)
                    graph.edges.append(GraphEdge(gid, ids[child.id], name, "field"))
        return graph


def build_graph(component: Component, data: bool = False) -> Graph:
    """The graph model of a flow (or of any other component's tree)."""
    builder = _Builder(data)
    if isinstance(component, Flow):
        return builder.flow(component)
    return builder.components(component)


# -- DOT ------------------------------------------------------------------------------


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _node_label(node: GraphNode) -> str:
    """An HTML-like label: the name in bold, the type and detail small below."""
    lines = [f"<B>{_html(node.name)}</B>"]
    if node.kind not in ("start", "end") or node.detail:
        small = node.type + (f" · {node.detail}" if node.detail else "")
        lines.append(f'<FONT POINT-SIZE="9" COLOR="#4b5563">{_html(small)}</FONT>')
    return "<" + "<BR/>".join(lines) + ">"


def _cluster_label(cluster: Cluster) -> str:
    title = f"<B>{_html(cluster.name)}</B>"
    if cluster.kind == "flow":
        return f"<{title}>"
    small = cluster.type + (f" · {cluster.detail}" if cluster.detail else "")
    return f'<{title}<BR/><FONT POINT-SIZE="9" COLOR="#4b5563">{_html(small)}</FONT>>'


def to_dot(graph: Graph, dpi: int | None = None) -> str:
    """Graphviz DOT text of the graph (top to bottom, clusters for subflows)."""
    resolution = f", dpi={dpi}" if dpi else ""
    lines = [
        "digraph loom {",
        "  graph [compound=true, rankdir=TB, fontname=\"Helvetica\", nodesep=0.35, "
        f"ranksep=0.45, labelloc=t, label={_html_title(graph.title)}{resolution}];",
        "  node [fontname=\"Helvetica\", fontsize=11, style=\"filled,rounded\", "
        "margin=\"0.15,0.06\"];",
        "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#374151\", arrowsize=0.7];",
    ]
    _dot_cluster(graph, graph.root, lines, "  ", top=True)
    for edge in graph.edges:
        attrs: list[str] = []
        if edge.label:
            attrs.append(f"label={_dot_string(' ' + edge.label + ' ')}")
        if edge.source_cluster and edge.source_cluster != edge.target_cluster:
            attrs.append(f"ltail=cluster_{edge.source_cluster}")
        if edge.target_cluster and edge.target_cluster != edge.source_cluster:
            attrs.append(f"lhead=cluster_{edge.target_cluster}")
        if edge.kind in ("data", "implicit"):
            style = "dashed" if edge.kind == "data" else "dotted"
            attrs += [f"style={style}", f'color="{DATA_COLOUR}"', f'fontcolor="{DATA_COLOUR}"',
                      "constraint=false"]
        elif edge.kind == "field":
            attrs += ['color="#6b7280"', 'fontcolor="#6b7280"']
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {edge.source} -> {edge.target}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _html_title(title: str) -> str:
    return f"<<B>{_html(title)}</B>>"


def _dot_cluster(graph: Graph, cluster: Cluster, lines: list[str], indent: str,
                 top: bool = False) -> None:
    inner = indent
    if not top:
        fill, border = CLUSTER_STYLES.get(cluster.kind, CLUSTER_STYLES["flow"])
        style = "dashed,rounded,filled" if cluster.kind == "flow" else "rounded,filled"
        lines.append(f"{indent}subgraph cluster_{cluster.id} {{")
        inner = indent + "  "
        lines.append(f"{inner}label={_cluster_label(cluster)}; style=\"{style}\"; "
                     f"fillcolor=\"{fill}\"; color=\"{border}\"; fontsize=11; margin=10;")
    for node_id in cluster.nodes:
        node = graph.nodes[node_id]
        if node.kind == "anchor":
            lines.append(f"{inner}{node_id} [shape=point, style=invis, width=0.01];")
            continue
        shape, fill, border = STYLES.get(node.kind, STYLES["node"])
        style = "filled" if shape in ("diamond", "oval") else "filled,rounded"
        lines.append(f"{inner}{node_id} [label={_node_label(node)}, shape={shape}, "
                     f"style=\"{style}\", fillcolor=\"{fill}\", color=\"{border}\"];")
    # dot lays sibling clusters out right to left: written in reverse, a
    # ParallelFlowNode's subflows read left to right in their declared order.
    siblings = cluster.clusters[::-1] if cluster.kind == "parallel" else cluster.clusters
    for child in siblings:
        _dot_cluster(graph, child, lines, inner)
    if not top:
        lines.append(f"{indent}}}")


# -- Mermaid --------------------------------------------------------------------------

_MERMAID_SHAPES = {
    "start": ('(["', '"])'),
    "end": ('(["', '"])'),
    "branch": ('{"', '"}'),
    "message": ('>"', '"]'),
}


def _mermaid_text(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;").replace("|", "#124;").replace("\n", "<br/>"))


def to_mermaid(graph: Graph) -> str:
    """Mermaid flowchart text: paste it into Markdown (```mermaid) or mermaid.live."""
    lines = ["flowchart TD"]
    _mermaid_cluster(graph, graph.root, lines, "  ", top=True)
    for edge in graph.edges:
        source = edge.source_cluster or edge.source
        target = edge.target_cluster or edge.target
        arrow = "-.->" if edge.kind in ("data", "implicit") else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"  {source} {arrow}{label} {target}")
    for kind, (_, fill, border) in STYLES.items():
        lines.append(f"  classDef k_{kind} fill:{fill},stroke:{border},color:#111827")
    for kind, (fill, border) in CLUSTER_STYLES.items():
        lines.append(f"  classDef cl_{kind} fill:{fill},stroke:{border},color:#111827")
    by_kind: dict[str, list[str]] = {}
    for node in graph.nodes.values():
        if node.kind != "anchor":
            by_kind.setdefault("k_" + node.kind, []).append(node.id)
    for cluster in _clusters(graph.root):
        by_kind.setdefault("cl_" + cluster.kind, []).append(cluster.id)
    for kind, ids in by_kind.items():
        lines.append(f"  class {','.join(ids)} {kind}")
    return "\n".join(lines) + "\n"


def _clusters(cluster: Cluster) -> list[Cluster]:
    found: list[Cluster] = []
    for child in cluster.clusters:
        found.append(child)
        found.extend(_clusters(child))
    return found


def _mermaid_cluster(graph: Graph, cluster: Cluster, lines: list[str], indent: str,
                     top: bool = False) -> None:
    inner = indent
    if not top:
        title = cluster.name if cluster.kind == "flow" else f"{cluster.name} · {cluster.type}"
        lines.append(f'{indent}subgraph {cluster.id} ["{_mermaid_text(title)}"]')
        inner = indent + "  "
        lines.append(f"{inner}direction TB")
    for node_id in cluster.nodes:
        node = graph.nodes[node_id]
        if node.kind == "anchor":
            lines.append(f'{inner}{node_id}[" "]')
            continue
        text = node.name + (f"\n{node.type}" if node.kind not in ("start", "end") else "")
        if node.detail:
            text += f"\n{node.detail}"
        opening, closing = _MERMAID_SHAPES.get(node.kind, ('["', '"]'))
        lines.append(f"{inner}{node_id}{opening}{_mermaid_text(text)}{closing}")
    for child in cluster.clusters:
        _mermaid_cluster(graph, child, lines, inner)
    if not top:
        lines.append(f"{indent}end")


# -- rendering ------------------------------------------------------------------------

FORMATS = ("svg", "png", "pdf", "dot", "gv", "mmd")
PNG_DPI = 120


def render(dot: str, fmt: str) -> bytes:
    """DOT text as ``svg``, ``png`` or ``pdf`` bytes, drawn by Graphviz's ``dot``."""
    graphviz: Any = require("graphviz", "graph", "drawing SVG/PNG",
                            alternative="write .mmd (Mermaid) or .dot instead")
    try:
        return bytes(graphviz.Source(dot, engine="dot").pipe(format=fmt))
    except graphviz.ExecutableNotFound:
        raise GraphError(
            "Graphviz's `dot` program is not installed",
            hint="install Graphviz (apt-get install graphviz, brew install graphviz), "
            "or write .mmd (Mermaid) or .dot instead",
        ) from None
    except graphviz.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise GraphError(f"Graphviz failed: {detail[-1] if detail else exc}") from None


def write_graph(component: Component, output: str | Path, data: bool = False) -> str:
    """Draw ``component`` into ``output``; the format comes from its extension.
    Returns the format written."""
    path = Path(output)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise GraphError(
            f"cannot tell the picture format from {path.name!r}",
            hint="name the output .svg, .png, .pdf, .dot or .mmd",
        )
    graph = build_graph(component, data=data)
    if fmt == "mmd":
        path.write_text(to_mermaid(graph), encoding="utf-8")
    elif fmt in ("dot", "gv"):
        path.write_text(to_dot(graph), encoding="utf-8")
    else:
        path.write_bytes(render(to_dot(graph, dpi=PNG_DPI if fmt == "png" else None), fmt))
    return fmt


def describe(graph: Graph) -> dict[str, Any]:
    """Counts of the graph's parts (for messages and tests)."""
    return {
        "nodes": sum(1 for n in graph.nodes.values() if n.kind != "anchor"),
        "clusters": len(_clusters(graph.root)),
        "edges": len(graph.edges),
    }
