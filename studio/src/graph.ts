// A component's graph as `loom graph --data` draws it, from GET /v1/components/{id}/graph?data=1:
// top to bottom, the subflows of ParallelFlowNode / MapNode / FlowNode boxed, a
// parallel node's branches side by side. A small layered layout of our own, from the
// control edges only; data edges are drawn over it, dashed (dotted when wired by name).

import { s } from "./dom";

export interface GNode { id: string; name: string; type: string; kind: string; detail: string }
export interface GCluster {
  id: string; name: string; type: string; kind: string; detail: string;
  nodes: string[]; clusters: GCluster[]; entry: string | null; exit: string | null;
}
export interface GEdge {
  source: string; target: string; label: string; kind: string;
  source_cluster: string | null; target_cluster: string | null;
}
export interface GraphData { title: string; nodes: GNode[]; edges: GEdge[]; clusters: GCluster }

/** Where a component's graph is read, data edges included. */
export function graphUrl(component: string): string {
  return `/v1/components/${encodeURIComponent(component)}/graph?data=1`;
}

const isData = (edge: GEdge): boolean => edge.kind === "data" || edge.kind === "implicit";

const NODE_H = 46;
const GAP_Y = 34;
const GAP_X = 18;
const PAD = 12;
const HEAD = 30;
const CHAR = 6.6;

interface Rect { x: number; y: number; w: number; h: number }
interface Placed {
  nodes: Map<string, Rect>;
  clusters: Map<string, Rect>;
}
interface Box { w: number; h: number; place: (x: number, y: number, out: Placed) => void }

export interface Drawn {
  svg: SVGSVGElement;
  /** path -> (element, path of the flow execution it belongs to) */
  items: Map<string, { element: SVGElement; flow: string | null; kind: string }>;
  tokens: Map<string, SVGElement>;
}

function nodeWidth(node: GNode): number {
  const small = node.kind === "start" || node.kind === "end" ? "" : node.type + (node.detail ? ` · ${node.detail}` : "");
  return Math.min(260, Math.max(96, 22 + CHAR * Math.max(node.name.length, small.length * 0.85)));
}

export function layout(graph: GraphData): { placed: Placed; w: number; h: number; owner: Map<string, string[]> } {
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  // For every node, the chain of clusters holding it (outermost first).
  const owner = new Map<string, string[]>();
  const walk = (cluster: GCluster, chain: string[]): void => {
    const here = [...chain, cluster.id];
    for (const id of cluster.nodes) owner.set(id, here);
    for (const child of cluster.clusters) walk(child, here);
  };
  walk(graph.clusters, []);

  const flowBox = (cluster: GCluster, depth: number): Box => {
    const items: string[] = [...cluster.nodes, ...cluster.clusters.map((c) => c.id)];
    const boxes = new Map<string, Box>();
    for (const id of cluster.nodes) {
      const node = nodes.get(id)!;
      const w = node.kind === "anchor" ? 12 : nodeWidth(node);
      boxes.set(id, { w, h: node.kind === "anchor" ? 12 : NODE_H, place: (x, y, out) => out.nodes.set(id, { x, y, w, h: node.kind === "anchor" ? 12 : NODE_H }) });
    }
    for (const child of cluster.clusters) boxes.set(child.id, nodeCluster(child, depth + 1));
    // The item of this cluster that holds a node (itself, or a child cluster).
    const itemOf = (nodeId: string): string | null => {
      const chain = owner.get(nodeId);
      if (!chain) return null;
      const at = chain.indexOf(cluster.id);
      if (at < 0) return null;
      return at === chain.length - 1 ? nodeId : chain[at + 1];
    };
    const next = new Map<string, string[]>(items.map((id) => [id, []]));
    for (const edge of graph.edges) {
      if (edge.kind !== "control") continue;
      const a = itemOf(edge.source);
      const b = itemOf(edge.target);
      if (a && b && a !== b) next.get(a)!.push(b);
    }
    // Longest-path layers from the entry, back edges (loops) left out.
    const layer = new Map<string, number>();
    const entry = cluster.entry ? itemOf(cluster.entry) : items[0];
    const onStack = new Set<string>();
    const orderList: string[] = [];
    const seen = new Set<string>();
    const dfs = (id: string): void => {
      seen.add(id); onStack.add(id);
      for (const to of next.get(id) || []) if (!seen.has(to)) dfs(to);
      onStack.delete(id); orderList.push(id);
    };
    if (entry) dfs(entry);
    for (const id of items) if (!seen.has(id)) dfs(id);
    const topo = orderList.reverse();
    const rank = new Map(topo.map((id, i) => [id, i]));
    for (const id of topo) {
      const mine = layer.get(id) ?? 0;
      layer.set(id, mine);
      for (const to of next.get(id) || []) {
        if ((rank.get(to) ?? 0) > (rank.get(id) ?? 0)) layer.set(to, Math.max(layer.get(to) ?? 0, mine + 1));
      }
    }
    const rows: string[][] = [];
    for (const id of topo) (rows[layer.get(id) ?? 0] ||= []).push(id);
    const filled = rows.filter((row) => row && row.length);
    const widths = filled.map((row) => row.reduce((sum, id) => sum + boxes.get(id)!.w, 0) + GAP_X * (row.length - 1));
    const heights = filled.map((row) => Math.max(...row.map((id) => boxes.get(id)!.h)));
    const inner = Math.max(0, ...widths);
    const framed = depth > 0;
    const head = framed ? 22 : 0;
    const pad = framed ? PAD : 0;
    const w = inner + 2 * pad;
    const h = heights.reduce((a, b) => a + b, 0) + GAP_Y * Math.max(0, filled.length - 1) + 2 * pad + head;
    return {
      w, h, place: (x, y, out) => {
        if (framed) out.clusters.set(cluster.id, { x, y, w, h });
        let top = y + pad + head;
        filled.forEach((row, index) => {
          let left = x + (w - widths[index]) / 2;
          for (const id of row) {
            const box = boxes.get(id)!;
            box.place(left, top + (heights[index] - box.h) / 2, out);
            left += box.w + GAP_X;
          }
          top += heights[index] + GAP_Y;
        });
      },
    };
  };

  const nodeCluster = (cluster: GCluster, depth: number): Box => {
    const inner = cluster.clusters.map((child) => flowBox(child, depth + 1));
    const extra = cluster.nodes.map(() => ({ w: 12, h: 12 }));
    const all = [...inner, ...extra];
    const label = Math.max(cluster.name.length, (cluster.type + " · " + cluster.detail).length * 0.85) * CHAR + 2 * PAD;
    const innerW = all.reduce((sum, b) => sum + b.w, 0) + GAP_X * Math.max(0, all.length - 1);
    const w = Math.max(label, innerW + 2 * PAD);
    const h = HEAD + PAD + Math.max(12, ...all.map((b) => b.h)) + PAD;
    return {
      w, h, place: (x, y, out) => {
        out.clusters.set(cluster.id, { x, y, w, h });
        let left = x + (w - innerW) / 2;
        for (const box of inner) { box.place(left, y + HEAD + PAD, out); left += box.w + GAP_X; }
        cluster.nodes.forEach((id) => { out.nodes.set(id, { x: left, y: y + HEAD + PAD, w: 12, h: 12 }); left += 12 + GAP_X; });
      },
    };
  };

  const root = flowBox(graph.clusters, 0);
  const placed: Placed = { nodes: new Map(), clusters: new Map() };
  root.place(PAD, PAD, placed);
  return { placed, w: root.w + 2 * PAD, h: root.h + 2 * PAD, owner };
}

/** Draws the graph; every node and box carries its run path (`data-path`) so a run's
 * events can colour it (`data-state`). */
export function drawGraph(graph: GraphData, onPick: (path: string) => void): Drawn {
  const { placed, w, h } = layout(graph);
  const svg = s("svg", { class: "graph", viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: "img", "aria-label": `graph of ${graph.title}` }) as SVGSVGElement;
  const marker = (id: string, head: string): SVGElement => s("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", class: head }));
  svg.append(s("defs", {}, marker("arrow", "arrowhead"), marker("arrow-data", "arrowhead arrowhead-data")));
  const items: Drawn["items"] = new Map();
  const tokens = new Map<string, SVGElement>();
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  const clusterPaths = new Map<string, string[]>();
  const nodePaths = new Map<string, { path: string; flow: string }>();
  const walk = (cluster: GCluster, prefix: string[], flow: string | null): void => {
    const path = [...prefix, cluster.name];
    clusterPaths.set(cluster.id, path);
    const flowHere = cluster.kind === "flow" ? path.join(" > ") : flow;
    const rect = placed.clusters.get(cluster.id);
    if (rect) {
      const box = s("g", { class: `cluster kind-${cluster.kind}`, "data-path": path.join(" > "), "data-state": "idle" },
        s("rect", { x: rect.x, y: rect.y, width: rect.w, height: rect.h, rx: 8 }),
        s("text", { x: rect.x + 8, y: rect.y + 15, class: "cluster-name" }, cluster.name),
        cluster.kind === "flow" ? null : s("text", { x: rect.x + 8, y: rect.y + 27, class: "cluster-type" }, cluster.type + (cluster.detail ? ` · ${cluster.detail}` : "")));
      box.addEventListener("click", (event) => { event.stopPropagation(); onPick(path.join(" > ")); });
      svg.append(box);
      items.set(path.join(" > "), { element: box, flow: cluster.kind === "flow" ? flow : flow, kind: cluster.kind });
    }
    for (const id of cluster.nodes) nodePaths.set(id, { path: [...path, nodes.get(id)!.name].join(" > "), flow: flowHere ?? path.join(" > ") });
    for (const child of cluster.clusters) walk(child, path, flowHere);
  };
  walk(graph.clusters, [], null);
  const edgeLayer = s("g", { class: "edges" });
  svg.append(edgeLayer);
  // A data edge leaves and reaches a box right of its middle, beside the control edges.
  const anchor = (node: string, cluster: string | null, bottom: boolean, data: boolean): [number, number] | null => {
    const rect = (cluster && placed.clusters.get(cluster)) || placed.nodes.get(node);
    if (!rect) return null;
    return [rect.x + rect.w * (data ? 0.75 : 0.5), bottom ? rect.y + rect.h : rect.y];
  };
  for (const edge of graph.edges) {
    const data = isData(edge);
    const from = anchor(edge.source, edge.source_cluster !== edge.target_cluster ? edge.source_cluster : null, true, data);
    const to = anchor(edge.target, edge.target_cluster !== edge.source_cluster ? edge.target_cluster : null, false, data);
    if (!from || !to) continue;
    let d: string;
    if (to[1] > from[1]) {
      const mid = (from[1] + to[1]) / 2;
      d = `M${from[0]},${from[1]} C${from[0]},${mid} ${to[0]},${mid} ${to[0]},${to[1]}`;
    } else { // a loop back up: around the right side
      const side = Math.max(from[0], to[0]) + 120;
      d = `M${from[0]},${from[1]} C${side},${from[1] + 40} ${side},${to[1] - 40} ${to[0]},${to[1]}`;
    }
    if (data) { // its label (output → input) shows on hover: drawn, they would crowd the graph
      edgeLayer.append(s("path", { d, class: `edge edge-${edge.kind}`, "marker-end": "url(#arrow-data)", "data-label": edge.label }, s("title", {}, edge.label)));
      continue;
    }
    edgeLayer.append(s("path", { d, class: `edge edge-${edge.kind}`, "marker-end": "url(#arrow)" }));
    if (edge.label) edgeLayer.append(s("text", { x: (from[0] + to[0]) / 2 + 4, y: (from[1] + to[1]) / 2, class: "edge-label" }, edge.label));
  }
  for (const [id, rect] of placed.nodes) {
    const node = nodes.get(id)!;
    if (node.kind === "anchor") continue;
    const where = nodePaths.get(id)!;
    const round = node.kind === "start" || node.kind === "end" ? rect.h / 2 : 6;
    const small = node.kind === "start" || node.kind === "end" ? "" : node.type + (node.detail ? ` · ${node.detail}` : "");
    const tokenText = s("text", { x: rect.x + rect.w / 2, y: rect.y + rect.h + 12, class: "tokens" });
    const g = s("g", { class: `node kind-${node.kind}`, "data-path": where.path, "data-state": "idle", tabindex: 0 },
      s("rect", { x: rect.x, y: rect.y, width: rect.w, height: rect.h, rx: round }),
      s("text", { x: rect.x + rect.w / 2, y: rect.y + (small ? 19 : 28), class: "node-name" }, node.name),
      small ? s("text", { x: rect.x + rect.w / 2, y: rect.y + 34, class: "node-type" }, small.length > 38 ? small.slice(0, 37) + "…" : small) : null,
      tokenText);
    g.addEventListener("click", () => onPick(where.path));
    svg.append(g);
    items.set(where.path, { element: g, flow: where.flow, kind: node.kind });
    tokens.set(where.path, tokenText);
  }
  return { svg, items, tokens };
}
