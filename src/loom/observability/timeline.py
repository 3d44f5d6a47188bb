"""A Gantt chart of a run from its trace file (matplotlib, no display needed).

One row per node of each flow execution, in the order the run reached them;
the nodes of every branch of a ParallelFlowNode or ParallelMapNode have rows of
their own, right under the parallel node, so branches that ran at the same time
show as bars that overlap. A node run several times (a loop) keeps one row with
one bar per pass. Past :data:`MAX_BRANCHES` branches of one node, the rest share
a single row ("… 990 more branches") so a 10,000-item map stays readable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loom._optional import require
from loom.observability.graph import STYLES
from loom.observability.spans import CANCELLED, ERROR, RUNNING, WAITING, Span

MAX_BRANCHES = 12
MAX_LABEL = 46
KIND_OF_TYPE = {
    "LlmNode": "llm", "ToolNode": "tool", "AgentNode": "agent", "BranchingNode": "branch",
    "ApiNode": "api", "InputMessageNode": "message", "OutputMessageNode": "message",
}
KIND_NAMES = {
    "llm": "LLM", "tool": "tool", "agent": "agent", "branch": "branching", "api": "API call",
    "message": "message", "node": "other node", "parallel": "parallel / map", "subflow": "subflow",
}
SUBFLOW_COLOURS = {"parallel": ("#ede9fe", "#7c3aed"), "subflow": ("#f1f5f9", "#64748b")}
PARALLEL_TYPES = ("ParallelFlowNode", "ParallelMapNode", "MapNode")


@dataclass
class Bar:
    start: int
    end: int
    kind: str
    status: str
    span: Span


@dataclass
class Row:
    label: str
    depth: int
    bars: list[Bar] = field(default_factory=list)
    collapsed: bool = False
    branch: str = ""
    guide: str = ""  # tree lines drawn before the label: "│  ├─ "


def _kind(span: Span) -> str:
    component = span.component_type or ""
    if component in PARALLEL_TYPES:
        return "parallel"
    if component in ("FlowNode", "CatchExceptionNode"):
        return "subflow"
    return KIND_OF_TYPE.get(component, "node")


def _end(span: Span, last: int) -> int:
    return span.end_time if span.end_time is not None else last


class _Layout:
    def __init__(self, spans: list[Span]) -> None:
        self.children: dict[str | None, list[Span]] = {}
        ids = {span.id for span in spans}
        for span in spans:
            parent = span.parent_id if span.parent_id in ids else None
            self.children.setdefault(parent, []).append(span)
        for items in self.children.values():
            items.sort(key=lambda s: s.start_time)
        self.last = max((_end(s, s.start_time) for s in spans), default=0)
        self.rows: list[Row] = []
        self.row_of: dict[tuple[str, tuple[str, ...]], Row] = {}

    def build(self) -> list[Row]:
        for root in self.children.get(None, []):
            if root.type == "FlowExecutionSpan":
                self._flow(root, 0, "")
            elif root.type == "NodeExecutionSpan":
                self._node(root, 0, "")
        return self.rows

    def _flow(self, flow: Span, depth: int, branch: str) -> None:
        for child in self.children.get(flow.id, []):
            if child.type == "NodeExecutionSpan":
                self._node(child, depth, branch)

    def _node(self, node: Span, depth: int, branch: str) -> None:
        key = (node.run_id, node.path)
        row = self.row_of.get(key)
        if row is None:
            # path[-1]: the node's name in its flow's keys, "x@2" for a second "x"
            label = node.path[-1] if node.path else node.name
            row = self.row_of[key] = Row(_label(label), depth, branch=branch)
            self.rows.append(row)
        row.bars.append(Bar(node.start_time, _end(node, self.last), _kind(node), node.status, node))
        flows = [c for c in self.children.get(node.id, []) if c.type == "FlowExecutionSpan"]
        branches: dict[tuple[str, ...], list[Span]] = {}
        for flow in flows:
            branches.setdefault(flow.path, []).append(flow)
        several = len(branches) > 1
        for index, (path, runs) in enumerate(branches.items()):
            if index == MAX_BRANCHES - 1 and len(branches) > MAX_BRANCHES:
                rest = [run for _, more in list(branches.items())[index:] for run in more]
                self._collapsed(rest, depth + 1, len(branches) - index)
                break
            name = path[-1] if several and path else ""
            for run in runs:
                self._flow(run, depth + 1, name)

    def _collapsed(self, flows: list[Span], depth: int, count: int) -> None:
        row = Row(f"… {count} more branches", depth, collapsed=True)
        self.rows.append(row)
        stack = list(flows)
        while stack:
            span = stack.pop()
            if span.type == "NodeExecutionSpan":
                row.bars.append(Bar(span.start_time, _end(span, self.last), _kind(span),
                                    span.status, span))
            stack.extend(self.children.get(span.id, []))


def _label(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def timeline_rows(spans: Iterable[Span]) -> list[Row]:
    """The rows of the chart: node spans grouped per flow execution, in run order."""
    rows = _Layout(list(spans)).build()
    # Tree guides: a row is its parent's last child when no later row of the
    # same depth comes before one of a smaller depth.
    open_levels: list[bool] = []
    for index, row in enumerate(rows):
        last = True
        for later in rows[index + 1:]:
            if later.depth < row.depth:
                break
            if later.depth == row.depth:
                last = False
                break
        del open_levels[max(row.depth - 1, 0):]
        if row.depth:
            row.guide = "".join("│  " if more else "   " for more in open_levels)
            row.guide += "└─ " if last else "├─ "
            open_levels.append(not last)
    return rows


STATUS_WORDS = {"ok": "finished", "error": "failed", "waiting": "waiting",
                "cancelled": "cancelled", "running": "cut short"}


def draw_timeline(spans: Iterable[Span], output: str | Path, *, title: str | None = None,
                  dpi: int = 144) -> int:
    """Draw the Gantt chart of ``spans`` into ``output`` (.png, .svg or .pdf).
    Returns the number of rows drawn."""
    require("matplotlib", "graph", "drawing a timeline").use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.transforms import blended_transform_factory

    spans = list(spans)
    rows = timeline_rows(spans)
    roots = [s for s in spans if s.parent_id is None]
    t0 = min((s.start_time for s in spans), default=0)
    t_end = max((_end(s, s.start_time) for s in spans), default=t0)
    total = (t_end - t0) / 1e9
    scale, unit = (1.0, "s") if total >= 1 else (1e3, "ms")
    span_x = max(total * scale, 1e-6)

    labels = [row.guide + row.label for row in rows]
    width_in = 11.0
    label_in = 0.35 + 0.066 * max((len(text) for text in labels), default=10)
    height_in = 1.5 + 0.34 * max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(width_in, height_in))
    try:
        fig.subplots_adjust(left=min(label_in / width_in, 0.5), right=0.97,
                            top=1 - 0.75 / height_in, bottom=0.6 / height_in)
        kinds_seen: dict[str, tuple[str, str]] = {}
        for index, row in enumerate(rows):
            for bar in row.bars:
                start = (bar.start - t0) / 1e9 * scale
                width = max((bar.end - bar.start) / 1e9 * scale, span_x / 600)
                if bar.kind in SUBFLOW_COLOURS:
                    fill, edge = SUBFLOW_COLOURS[bar.kind]
                else:
                    _, fill, edge = STYLES.get(bar.kind, STYLES["node"])
                kinds_seen.setdefault(bar.kind, (fill, edge))
                hatch = "//" if bar.status in (WAITING, CANCELLED, RUNNING) else None
                ax.barh(index, width, left=start, height=0.64, color=fill,
                        edgecolor="#dc2626" if bar.status == ERROR else edge,
                        linewidth=1.8 if bar.status == ERROR else 1.0, hatch=hatch,
                        alpha=0.5 if row.collapsed else 1.0)
            if row.branch and row.bars:
                first = row.bars[0]
                if (first.end - first.start) / 1e9 * scale > span_x * 0.18:
                    ax.text((first.start - t0) / 1e9 * scale + span_x * 0.006, index,
                            row.branch, va="center", ha="left", fontsize=7, color="#4b5563",
                            style="italic", clip_on=True)
            if len(row.bars) <= 3 and not row.collapsed:
                for bar in row.bars:
                    text = _duration((bar.end - bar.start) / 1e9)
                    if bar.status != "ok":
                        text += f" ({STATUS_WORDS.get(bar.status, bar.status)})"
                    ax.text((bar.end - t0) / 1e9 * scale + span_x * 0.006, index, text,
                            va="center", ha="left", fontsize=7.5, color="#374151")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([])
        ax.tick_params(axis="y", length=0)
        to_label = blended_transform_factory(fig.transFigure, ax.transData)
        for index, (text, row) in enumerate(zip(labels, rows, strict=True)):
            ax.text(0.012, index, text, transform=to_label, ha="left", va="center",
                    fontsize=8.5, fontfamily="monospace",
                    color="#6b7280" if row.collapsed else "#111827")
        ax.set_ylim(len(rows) - 0.5 if rows else 1, -0.6 if rows else -1)
        ax.set_xlim(0, span_x * 1.13)
        if not rows:
            ax.text(0.5, 0.5, "no node ran in this trace", transform=ax.transAxes,
                    ha="center", va="center", color="#6b7280")
        ax.set_xlabel(f"time since the run started ({unit})", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", color="#e5e7eb", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        if title is None:
            name = roots[0].name if roots else "run"
            status = STATUS_WORDS.get(roots[0].status, roots[0].status) if roots else "empty"
            runs = len({s.run_id for s in roots})
            title = f"{name}: {status} in {_duration(total)}" + (
                f" ({runs} runs)" if runs > 1 else "")
        fig.text(0.012, 1 - 0.3 / height_in, title, fontsize=11, fontweight="bold",
                 ha="left", va="center")
        handles = [Patch(facecolor=fill, edgecolor=edge, label=KIND_NAMES.get(kind, kind))
                   for kind, (fill, edge) in kinds_seen.items()]
        if handles:
            fig.legend(handles=handles, loc="center right", fontsize=7.5, frameon=False,
                       ncol=len(handles), bbox_to_anchor=(0.97, 1 - 0.3 / height_in))
        fig.savefig(output, dpi=dpi)
    finally:
        plt.close(fig)
    return len(rows)


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def describe_rows(rows: list[Row]) -> list[dict[str, Any]]:
    """The rows as plain data (for tests and ``--json`` style output)."""
    return [{"label": r.label, "depth": r.depth, "bars": len(r.bars), "collapsed": r.collapsed}
            for r in rows]
