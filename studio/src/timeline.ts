// The timeline of a run, by `loom timeline`'s rules: one row per node of each flow
// execution in the order the run reached it, the nodes of every branch of a parallel
// node (or map) on rows of their own right under it, a node run again (a loop, a
// resumed run) on the same row with one bar per pass, past MAX_BRANCHES branches the
// rest on one row; bars of waits (and of cancelled or cut-short nodes) hatched. Live,
// a running bar grows with the clock and a wait stays hatched until the run goes on.

import { duration, s } from "./dom";
import type { RunModel, Span } from "./runstate";

const MAX_BRANCHES = 12;
const ROW_H = 22;
const LABEL_W = 270;
const WIDTH = 980;
const KIND: Record<string, string> = {
  LlmNode: "llm", ToolNode: "tool", AgentNode: "agent", BranchingNode: "branch", ApiNode: "api",
  InputMessageNode: "message", OutputMessageNode: "message", ParallelFlowNode: "parallel",
  ParallelMapNode: "parallel", MapNode: "parallel", FlowNode: "subflow", CatchExceptionNode: "subflow",
};

interface Bar { span: Span; kind: string }
interface Row { label: string; depth: number; bars: Bar[]; branch: string; collapsed: boolean }

export function timelineRows(model: RunModel): Row[] {
  const children = new Map<string | null, Span[]>();
  for (const span of model.order) {
    const parent = span.parent && model.spans.has(span.parent) ? span.parent : null;
    (children.get(parent) || children.set(parent, []).get(parent)!).push(span);
  }
  for (const list of children.values()) list.sort((a, b) => a.start - b.start);
  const rows: Row[] = [];
  const rowOf = new Map<string, Row>();
  const bar = (span: Span): Bar => ({ span, kind: KIND[span.componentType] || "node" });
  const flow = (span: Span, depth: number, branch: string): void => {
    for (const child of children.get(span.id) || []) if (child.type === "NodeExecutionSpan") node(child, depth, branch);
  };
  const node = (span: Span, depth: number, branch: string): void => {
    let row = rowOf.get(span.path);
    if (!row) {
      row = { label: span.name, depth, bars: [], branch, collapsed: false };
      rowOf.set(span.path, row);
      rows.push(row);
    }
    row.bars.push(bar(span));
    const branches = new Map<string, Span[]>();
    for (const child of children.get(span.id) || []) {
      if (child.type !== "FlowExecutionSpan") continue;
      const key = (child.first?.path || []).join(" > ");
      (branches.get(key) || branches.set(key, []).get(key)!).push(child);
    }
    const entries = [...branches.entries()];
    const several = entries.length > 1;
    entries.forEach(([, runs], index) => {
      if (index === MAX_BRANCHES - 1 && entries.length > MAX_BRANCHES) {
        collapsed(entries.slice(index).flatMap(([, more]) => more), depth + 1, entries.length - index);
      }
      if (index >= MAX_BRANCHES - 1 && entries.length > MAX_BRANCHES) return;
      for (const run of runs) {
        const path = run.first?.path || [];
        flow(run, depth + 1, several ? path[path.length - 1] || "" : "");
      }
    });
  };
  const collapsed = (flows: Span[], depth: number, count: number): void => {
    const row: Row = { label: `… ${count} more branches`, depth, bars: [], branch: "", collapsed: true };
    rows.push(row);
    const stack = [...flows];
    while (stack.length) {
      const span = stack.pop()!;
      if (span.type === "NodeExecutionSpan") row.bars.push(bar(span));
      stack.push(...(children.get(span.id) || []));
    }
  };
  for (const root of children.get(null) || []) {
    if (root.type === "FlowExecutionSpan") flow(root, 0, "");
    else if (root.type === "NodeExecutionSpan") node(root, 0, "");
  }
  return rows;
}

/** An SVG of the timeline; `now` (ns) ends the bars still open and the waits going on. */
export function drawTimeline(model: RunModel, now: number, live: boolean, runWaiting: boolean): SVGSVGElement {
  const rows = timelineRows(model);
  const t0 = model.first() ?? now;
  const end = Math.max(live || runWaiting ? now : model.lastTime(), t0 + 1);
  const total = end - t0;
  const plot = WIDTH - LABEL_W - 140;
  const x = (t: number): number => LABEL_W + ((t - t0) / total) * plot;
  const height = 30 + rows.length * ROW_H + 24;
  const svg = s("svg", { class: "timeline", viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height }) as SVGSVGElement;
  svg.append(s("defs", {}, s("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
    s("rect", { width: 6, height: 6, class: "hatch-bg" }), s("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" }))));
  for (let i = 0; i <= 4; i++) {
    const tx = LABEL_W + (plot * i) / 4;
    svg.append(s("line", { x1: tx, x2: tx, y1: 20, y2: height - 20, class: "grid" }));
    svg.append(s("text", { x: tx, y: height - 6, class: "tick" }, duration((total * i) / 4)));
  }
  rows.forEach((row, index) => {
    const y = 26 + index * ROW_H;
    const g = s("g", { class: `row${row.collapsed ? " collapsed" : ""}`, "data-label": row.label, "data-depth": row.depth });
    g.append(s("text", { x: 8 + row.depth * 16, y: y + 14, class: "row-label" }, (row.depth ? "└ " : "") + row.label));
    row.bars.forEach((item, at) => {
      const span = item.span;
      const open = span.end === null;
      const stop = open ? now : span.end!;
      const left = x(span.start);
      const width = Math.max(2, x(stop) - left);
      const status = open ? (live ? "running" : "cut") : span.status;
      const hatched = status === "waiting" || status === "cancelled" || status === "cut";
      g.append(s("rect", { x: left, y: y + 3, width, height: ROW_H - 8, rx: 3, class: `bar kind-${item.kind} status-${status}${hatched ? " hatched" : ""}` },
        s("title", {}, `${span.name}: ${duration(stop - span.start)} (${status})`)));
      if (span.status === "waiting" && !open) { // the wait itself: until the next pass, or now
        const next = row.bars[at + 1]?.span.start ?? (runWaiting ? now : null);
        if (next !== null && next > stop) g.append(s("rect", { x: x(stop), y: y + 3, width: Math.max(2, x(next) - x(stop)), height: ROW_H - 8, class: "bar wait hatched" }));
      }
      if (row.bars.length <= 3 && !row.collapsed && at === row.bars.length - 1) {
        g.append(s("text", { x: x(stop) + 4, y: y + 14, class: "bar-text" }, duration(stop - span.start) + (status !== "ok" ? ` (${status === "error" ? "failed" : status})` : "")));
      }
    });
    svg.append(g);
  });
  svg.append(s("text", { x: 8, y: 14, class: "tl-title" }, `time since the run started (${duration(total)})`));
  return svg;
}
