"""examples/parallel_marketing: build.py writes exactly the committed flow files,
and the flow is the ParallelFlowNode guide's flow, corrected."""

from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path
from types import ModuleType

import pytest

import loom
from loom.spec import Flow, OutputMessageNode, ParallelFlowNode, ToolNode
from loom.spec.walk import walk

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "parallel_marketing"


def module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"parallel_marketing_{name}", EXAMPLE / f"{name}.py")
    assert spec and spec.loader
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def built() -> Flow:
    flow = module("build").build()
    assert isinstance(flow, Flow)
    return flow


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_build_writes_the_committed_files(fmt: str) -> None:
    committed = (EXAMPLE / f"flow.{fmt}").read_text(encoding="utf-8")
    assert loom.dumps(built(), fmt) == committed
    assert loom.load(EXAMPLE / f"flow.{fmt}", strict=True) == built()


def test_the_message_is_the_llm_text() -> None:
    flow = built()
    say = next(n for n in flow.nodes if isinstance(n, OutputMessageNode))
    feeds = [(e.source_node.component_type, e.source_output) for e in flow.data_flow_connections or []
             if e.destination_node is say and e.destination_input == "output"]
    assert feeds == [("LlmNode", "generated_text")]
    assert [p.title for p in flow.outputs or []] == ["marketing_message"]


def test_tools_match_the_guide(shared_dir: Path) -> None:
    document = json.loads((shared_dir / "conformance/docs_examples/howto_parallelflownode.json").read_text())

    def tools_of(data: object) -> dict[str, tuple[list[dict], list[dict]]]:
        found: dict[str, tuple[list[dict], list[dict]]] = {}
        if isinstance(data, dict):
            if data.get("component_type") == "ServerTool":
                found[data["name"]] = (data["inputs"], data["outputs"])
            for value in data.values():
                found.update(tools_of(value))
        elif isinstance(data, list):
            for value in data:
                found.update(tools_of(value))
        return found

    ours = tools_of(loom.to_dict(built()))
    assert ours == tools_of(document)


def test_each_tool_runs_in_its_own_subflow_of_the_parallel_node() -> None:
    flow = built()
    parallel = next(n for n in flow.nodes if isinstance(n, ParallelFlowNode))
    assert len(parallel.subflows) == 4
    for subflow in parallel.subflows:
        assert [type(n).__name__ for n in subflow.nodes] == ["StartNode", "ToolNode", "EndNode"]
    llm_configs = [c for c in walk(flow) if c.component_type == "VllmConfig"]
    assert [(c.model_id, c.url) for c in llm_configs] == [  # type: ignore[attr-defined]
        ("fake-model", "http://127.0.0.1:18765/v1")
    ]


def test_tools_py_implements_every_server_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOM_EXAMPLE_TOOL_DELAY", "0")
    tools = module("tools")
    assert tools.DELAY == 0.0
    for node in (n for c in walk(built()) if isinstance(c, Flow) for n in c.nodes):
        if isinstance(node, ToolNode):
            function = getattr(tools, node.tool.name)
            params = list(inspect.signature(function).parameters)
            assert params == [p.title for p in node.tool.inputs or []]
            args = ["alice"] * len(params)
            assert function(*args) == function(*args)  # deterministic


def test_pyagentspec_loads_the_example() -> None:
    serialization = pytest.importorskip("pyagentspec.serialization")
    sdk_flow = serialization.AgentSpecDeserializer().from_json((EXAMPLE / "flow.json").read_text())
    assert sdk_flow.name == "marketing_message_flow"
