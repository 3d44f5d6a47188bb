"""Live progress on a terminal: a rich tree of the running flow.

Each node shows a state mark, its type and its elapsed time; the subflow of a
FlowNode/MapNode nests under it; the branches of a ParallelFlowNode (or the
iterations of a ParallelMapNode) stand side by side in columns, and past
:data:`MAX_COLUMNS` branches the running ones are shown with a count of the
rest. The LlmNode that is generating shows the tail of its streamed text.

The display follows runs through their events (a :class:`SpanBuilder` with a
processor that keeps the span tree); rendering happens in rich's refresh
thread, so the tree is guarded by a lock.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.text import Text
from rich.tree import Tree

from loom.observability.builder import SpanBuilder
from loom.observability.spans import (
    CANCELLED,
    ERROR,
    OK,
    RUNNING,
    WAITING,
    Span,
    SpanEvent,
    SpanProcessor,
)
from loom.runtime.events import RuntimeEvent

MAX_COLUMNS = 4
MAX_NODES = 12
TOKEN_TAIL = 70
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
MARKS = {OK: ("✓", "green"), ERROR: ("✗", "bold red"), WAITING: ("⏸", "yellow"),
         CANCELLED: ("⊘", "dim")}


@dataclass(eq=False)
class _Item:
    span: Span
    children: list[_Item] = field(default_factory=list)
    text: str = ""
    tokens: int = 0


class _Tree(SpanProcessor):
    """Keeps the spans of the runs being shown, as a tree."""

    def __init__(self, on_root: Any) -> None:
        self.lock = threading.Lock()
        self.items: dict[str, _Item] = {}
        self.roots: list[_Item] = []
        self.on_root = on_root

    def on_start(self, span: Span) -> None:
        if span.kind not in ("flow", "node", "llm", "agent"):
            return
        with self.lock:
            item = self.items[span.id] = _Item(span)
            parent = self.items.get(span.parent_id or "")
            if parent is not None:
                parent.children.append(item)
            elif span.parent_id is None:
                self.roots.append(item)
        if span.parent_id is None:
            self.on_root(span, started=True)

    def on_event(self, event: SpanEvent, span: Span) -> None:
        if event.type == "LlmGenerationChunkReceived":
            with self.lock:
                item = self.items.get(span.id)
                if item is not None:
                    content = event.attributes.get("content")
                    item.text = (item.text + (content if isinstance(content, str) else ""))[
                        -TOKEN_TAIL * 4:]
                    item.tokens += 1

    def on_end(self, span: Span) -> None:
        if span.parent_id is None and span.id in self.items:
            self.on_root(span, started=False)


class LiveProgress:
    """A runtime listener drawing the live tree on ``console`` (stderr by default).

    The display starts with a run's root flow and stops when it ends (finished,
    failed or waiting), leaving the final tree on screen.
    """

    def __init__(self, console: Console | None = None, refresh_per_second: float = 10) -> None:
        self.console = console or Console(stderr=True)
        self.tree = _Tree(self._root_changed)
        self.builder = SpanBuilder([self.tree], mask_sensitive=False)
        self._live: Live | None = None
        self._refresh = refresh_per_second

    def __call__(self, event: RuntimeEvent) -> None:
        self.builder(event)

    def _root_changed(self, span: Span, started: bool) -> None:
        if started:
            if self._live is None:
                with self.tree.lock:
                    self.tree.roots = [item for item in self.tree.roots if item.span is span]
                self._live = Live(console=self.console, get_renderable=self.render,
                                  refresh_per_second=self._refresh, transient=False,
                                  redirect_stdout=False, redirect_stderr=False)
                self._live.start()
        elif self._live is not None:
            live, self._live = self._live, None
            live.refresh()
            live.stop()

    def close(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()

    # -- rendering -------------------------------------------------------------------

    def render(self) -> RenderableType:
        now = time.time_ns()
        with self.tree.lock:
            if not self.tree.roots:
                return Text("")
            return Group(*(self._flow_tree(root, now) for root in self.tree.roots[-1:]))

    def _flow_tree(self, item: _Item, now: int) -> Tree:
        tree = Tree(self._label(item, now, bold=True), guide_style="dim")
        self._add_nodes(tree, item, now)
        return tree

    def _add_nodes(self, tree: Tree, flow: _Item, now: int) -> None:
        nodes = [child for child in flow.children if child.span.kind in ("node", "agent")]
        if len(nodes) > MAX_NODES:
            tree.add(Text(f"… {len(nodes) - MAX_NODES} earlier steps", style="dim"))
            nodes = nodes[-MAX_NODES:]
        for node in nodes:
            branch = tree.add(self._label(node, now))
            self._add_inside(branch, node, now)

    def _add_inside(self, branch: Tree, node: _Item, now: int) -> None:
        for child in node.children:
            if child.span.kind == "llm" and child.span.status == RUNNING:
                tail = " ".join(child.text.split())[-TOKEN_TAIL:]
                branch.add(Text(f"“…{tail}”" if tail else "waiting for the first token",
                                style="italic cyan"))
            elif child.span.kind == "agent":
                sub = branch.add(self._label(child, now))
                self._add_inside(sub, child, now)
        flows = [child for child in node.children if child.span.kind == "flow"]
        if len(flows) == 1:
            self._add_nodes(branch, flows[0], now)
        elif flows:
            branch.add(self._columns(flows, now))

    def _columns(self, flows: list[_Item], now: int) -> RenderableType:
        shown = flows
        summary = None
        if len(flows) > MAX_COLUMNS:
            running = [f for f in flows if f.span.status == RUNNING]
            shown = (running or flows)[:MAX_COLUMNS]
            counts: dict[str, int] = {}
            for flow in flows:
                counts[flow.span.status] = counts.get(flow.span.status, 0) + 1
            words = {OK: "done", RUNNING: "running", ERROR: "failed", WAITING: "waiting",
                     CANCELLED: "cancelled"}
            summary = Text(f"{len(flows)} branches: " + ", ".join(
                f"{n} {words.get(s, s)}" for s, n in counts.items()), style="dim")
        panels = []
        for flow in shown:
            inner = Tree(self._label(flow, now, bold=True), guide_style="dim")
            self._add_nodes(inner, flow, now)
            style = {RUNNING: "cyan", OK: "green", ERROR: "red"}.get(flow.span.status, "dim")
            panels.append(Panel(inner, border_style=style, padding=(0, 1), expand=False))
        columns = Columns(panels, padding=(0, 1))
        return Group(columns, summary) if summary is not None else columns

    def _label(self, item: _Item, now: int, bold: bool = False) -> Text:
        span = item.span
        if span.status == RUNNING:
            mark, style = SPINNER[(now // 100_000_000) % len(SPINNER)], "cyan"
        else:
            mark, style = MARKS.get(span.status, ("•", "dim"))
        end = span.end_time if span.end_time is not None else now
        elapsed = max(end - span.start_time, 0) / 1e9
        text = Text()
        text.append(mark + " ", style=style)
        text.append(span.name, style="bold" if bold or span.status == RUNNING else "")
        kind = span.component_type
        if kind and kind != "Flow":
            text.append(f"  {kind}", style="dim")
        text.append(f"  {elapsed:.2f} s", style="dim" if span.status != RUNNING else "cyan")
        llm = next((c for c in item.children if c.span.kind == "llm"), None)
        if llm is not None and llm.tokens:
            text.append(f"  {llm.tokens} chunks", style="dim")
        if span.status == ERROR and span.error_type:
            text.append(f"  {span.error_type}", style="red")
        return text
