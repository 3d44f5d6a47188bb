"""The executor contract: what the engine reads of an executor is declared by each
one and read into the plan at compile time; executor modules mirror spec/nodes."""

from __future__ import annotations

import pkgutil
from typing import Any

import loom.runtime.executors as executors
import loom.spec.nodes as spec_nodes
from loom.runtime.executors import FACTORIES
from loom.runtime.executors.unsupported import Unsupported
from loom.runtime.plan import Executor
from loom.spec import InputMessageNode, OutputMessageNode

from .conftest import linear_flow, prop, props, runtime, tool_node


def test_every_executor_declares_what_the_engine_reads() -> None:
    for cls in {*FACTORIES.values(), Unsupported}:
        assert isinstance(cls, type) and issubclass(cls, Executor), cls
        for name in ("journaled", "threaded"):
            assert isinstance(vars(cls).get(name), bool), f"{cls.__name__}.{name}"


def test_the_plan_holds_the_contract_of_each_node() -> None:
    async def slow(x: str) -> str:
        return x

    flow = linear_flow(
        "main",
        tool_node("sync_tool", props(x="string"), props(y="string")),
        tool_node("async_tool", [prop("y")], [prop("z")]),
        OutputMessageNode(name="say", message="{{z}}"),
        InputMessageNode(name="ask", outputs=[prop("answer")]),
        inputs=props(x="string"), outputs=props(answer="string"),
    )
    tools: dict[str, Any] = {"sync_tool": lambda x: x, "async_tool": slow}
    plan = runtime(tools).compile(flow)
    nodes = {node.name: node for node in plan.nodes}
    assert {name: (node.journaled, node.sync_run is not None) for name, node in nodes.items()} == {
        "start": (False, False), "sync_tool": (True, True), "async_tool": (True, False),
        "say": (False, False), "ask": (True, False), "end": (False, False),
    }


def test_executor_modules_are_named_after_the_node_modules() -> None:
    node_modules = {info.name for info in pkgutil.iter_modules(spec_nodes.__path__)}
    # unsupported.py serves every node kind.
    for info in pkgutil.iter_modules(executors.__path__):
        assert info.name in node_modules | {"unsupported"}, info.name
