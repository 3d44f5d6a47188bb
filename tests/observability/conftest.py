"""The seed example with fast tools, small flows built in a few lines, a fake LLM."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.spec import (
    ControlFlowEdge,
    EndNode,
    Flow,
    Node,
    ParallelFlowNode,
    ServerTool,
    StartNode,
    StringProperty,
    ToolNode,
)
from loom.testing import FakeLlmServer

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "parallel_marketing" / "flow.json"
SEED_TOOLS_FILE = ROOT / "examples" / "parallel_marketing" / "tools.py"
BRANCH_DELAY = 0.08


def seed_tools(delay: float = BRANCH_DELAY) -> dict[str, Callable[..., Any]]:
    """The example's four tools, each sleeping ``delay`` seconds (in the tool threads)."""

    def get_current_time() -> str:
        time.sleep(delay)
        return "2025-05-01T09:30:00"

    def get_user_information(username: str) -> dict[str, str]:
        time.sleep(delay)
        return {"name": username.title(), "birthday": "1990-05-01", "city": "Lisbon"}

    def get_user_last_purchases(username: str) -> list[dict[str, str]]:
        time.sleep(delay)
        return [{"item": "tent"}]

    def get_items_on_sale() -> list[dict[str, str]]:
        time.sleep(delay)
        return [{"item": "kayak"}]

    return {fn.__name__: fn for fn in (get_current_time, get_user_information,
                                       get_user_last_purchases, get_items_on_sale)}


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        yield server


@pytest.fixture
def seed_runtime(llm: FakeLlmServer) -> Iterator[Callable[..., loom.Runtime]]:
    made: list[loom.Runtime] = []

    def make(**options: Any) -> loom.Runtime:
        options.setdefault("tools", seed_tools())
        runtime = loom.Runtime(llm={"url": llm.url}, use_env=False, **options)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close()


def text(title: str) -> StringProperty:
    return StringProperty(title=title)


def chain(name: str, nodes: Sequence[Node], inputs: Sequence[str] = (),
          outputs: Sequence[str] = ()) -> Flow:
    """StartNode -> nodes -> EndNode, data wired by name."""
    start = StartNode(name=f"{name}_start", inputs=[text(t) for t in inputs])
    end = EndNode(name=f"{name}_end", outputs=[text(t) for t in outputs])
    order = [start, *nodes, end]
    edges = [ControlFlowEdge(name=f"{name}_e{i}", from_node=a, to_node=b)
             for i, (a, b) in enumerate(zip(order, order[1:], strict=False))]
    return Flow(name=name, start_node=start, nodes=order, control_flow_connections=edges,
                inputs=[text(t) for t in inputs], outputs=[text(t) for t in outputs])


def tool_step(tool: str, output: str, inputs: Sequence[str] = ()) -> ToolNode:
    return ToolNode(name=f"{tool}_step", tool=ServerTool(
        name=tool, inputs=[text(t) for t in inputs], outputs=[text(output)]))


def parallel(name: str, *branches: Flow) -> ParallelFlowNode:
    return ParallelFlowNode(name=name, subflows=list(branches))
