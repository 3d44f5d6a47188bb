"""Small flows and a command runner shared by the CLI tests."""

from __future__ import annotations

from typing import Any

import pytest

from loom.cli import main
from loom.spec import ControlFlowEdge, EndNode, Flow, Property, ServerTool, StartNode, ToolNode


def prop(title: str, kind: str = "string", **extra: Any) -> Property:
    return Property(json_schema={"title": title, "type": kind, **extra})


def chain(name: str, *nodes: Any, inputs: tuple[Property, ...] = (),
          outputs: tuple[Property, ...] = ()) -> Flow:
    """StartNode(inputs) -> nodes... -> EndNode(outputs), wired by names."""
    start = StartNode(name="start", inputs=list(inputs))
    end = EndNode(name="end", inputs=list(outputs))
    steps = [start, *nodes, end]
    return Flow(name=name, start_node=start, nodes=steps, control_flow_connections=[
        ControlFlowEdge(name=f"e{i}", from_node=a, to_node=b)
        for i, (a, b) in enumerate(zip(steps, steps[1:], strict=False))])


def double_flow() -> Flow:
    """One ServerTool 'double' (integer x -> integer y)."""
    tool = ServerTool(name="double", inputs=[prop("x", "integer")],
                      outputs=[prop("y", "integer")])
    return chain("doubler", ToolNode(name="double", tool=tool),
                 inputs=(prop("x", "integer"),), outputs=(prop("y", "integer"),))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``loom ARGV`` in this process: exit code, stdout, stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
