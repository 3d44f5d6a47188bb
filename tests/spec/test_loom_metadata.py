"""loom's own settings in ``metadata: {"loom": {...}}`` are checked when a config
loads, so ``loom validate`` refuses what ``loom run`` could not use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.cli import main
from loom.errors import SpecError
from loom.spec import (
    ControlFlowEdge,
    EndNode,
    Flow,
    MapNode,
    ParallelFlowNode,
    Property,
    StartNode,
)

# The map flows here only carry the setting: their unfed input does not matter.
pytestmark = pytest.mark.filterwarnings("ignore:.*can never run")


def linear(name: str, node: Any = None, inputs: list[Property] | None = None) -> Flow:
    start = StartNode(name=f"{name}_start", inputs=inputs or [])
    end = EndNode(name=f"{name}_end")
    nodes = [start, *([node] if node else []), end]
    return Flow(name=name, start_node=start, nodes=nodes, control_flow_connections=[
        ControlFlowEdge(name=f"{name}_{i}", from_node=a, to_node=b)
        for i, (a, b) in enumerate(zip(nodes, nodes[1:], strict=False))
    ])


def fan_flow() -> Flow:
    return linear("main", ParallelFlowNode(name="fan", subflows=[linear("one")]))


def map_flow() -> Flow:
    items = Property(json_schema={"title": "x", "type": "integer"})
    return linear("main", MapNode(name="fan", subflow=linear("each", inputs=[items])))


def with_setting(flow: Flow, key: str, value: Any) -> str:
    """The flow's JSON with ``metadata.loom.<key>`` set on the node named 'fan'."""
    document = json.loads(loom.dumps(flow))

    def visit(item: Any) -> None:
        if isinstance(item, dict):
            if item.get("name") == "fan" and "component_type" in item:
                item["metadata"] = {"loom": {key: value}}
            for child in item.values():
                visit(child)
        elif isinstance(item, list):
            for child in item:
                visit(child)

    visit(document)
    return json.dumps(document)


BAD = [
    ("max_concurrency", "abc"), ("max_concurrency", -5), ("max_concurrency", 0),
    ("max_concurrency", 2.5), ("max_concurrency", True), ("max_concurrency", 10**20),
    ("branch_timeout", "abc"), ("branch_timeout", -1), ("branch_timeout", 0),
    ("branch_timeout", [1]), ("max_iterations", "3"), ("max_iterations", 0),
]


@pytest.mark.parametrize("build", [fan_flow, map_flow])
@pytest.mark.parametrize(("key", "value"), BAD)
def test_a_bad_setting_is_refused_at_load(build: Any, key: str, value: Any) -> None:
    with pytest.raises(SpecError) as raised:
        loom.loads(with_setting(build(), key, value))
    text = raised.value.describe()
    assert f"loom.{key} must be a positive" in text
    assert "'fan'" in text and "[at metadata]" in text


@pytest.mark.parametrize(("key", "value"), [
    ("max_concurrency", 4), ("branch_timeout", 2.5), ("branch_timeout", 3),
    ("max_iterations", 7),
])
def test_good_settings_load(key: str, value: Any) -> None:
    flow = loom.loads(with_setting(fan_flow(), key, value))
    assert flow.nodes[1].metadata == {"loom": {key: value}}


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_timeouts_are_refused(value: float) -> None:
    """A file cannot carry NaN or Infinity (the reader refuses them); a component
    built in Python can, and its setting is refused the same way."""
    with pytest.raises(SpecError, match="branch_timeout"):
        ParallelFlowNode(name="fan", subflows=[linear("one")],
                         metadata={"loom": {"branch_timeout": value}})


def test_loom_validate_reports_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "flow.json"
    config.write_text(with_setting(fan_flow(), "max_concurrency", "abc"))
    assert main(["validate", str(config)]) == 1
    printed = capsys.readouterr().out
    assert "INVALID" in printed and "loom.max_concurrency" in printed
    assert "[at metadata]" in printed and "Traceback" not in printed


def test_loom_run_says_the_same(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "flow.json"
    config.write_text(with_setting(fan_flow(), "max_concurrency", -5))
    assert main(["run", str(config), "--store", "memory:", "--json"]) == 2
    result = json.loads(capsys.readouterr().out)
    assert "loom.max_concurrency must be a positive whole number" in result["error"]["message"]
