"""Round trips: loom -> text -> loom gives the same model; what loom writes,
pyagentspec reads (and gives back unchanged); what pyagentspec writes, loom reads
with the same structure and writes back identically."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

import loom
from loom.spec import Flow
from loom.spec.component import Component, ComponentWithIO
from loom.spec.walk import walk

from ._corpus import CONFORMANCE, LOADABLE, cases, quiet_load, registry_for, secrets_of

sdk_serialization = pytest.importorskip("pyagentspec.serialization")

# Reloading a file repeats its load warnings (unwired branches...): not the subject here.
pytestmark = pytest.mark.filterwarnings("ignore::loom.LoomWarning")


def corpus_component(shared_dir: Path, rel: str) -> Component:
    return quiet_load(CONFORMANCE / rel, registry=registry_for(rel))


# -- loom -> loom ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize("rel", cases(*LOADABLE))
def test_dump_then_load_gives_an_equal_model(shared_dir: Path, rel: str, fmt: str) -> None:
    original = corpus_component(shared_dir, rel)
    text = loom.dumps(original, fmt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = loom.loads(text, format=fmt, registry=secrets_of(original))
    # loom writes the version the features need, so the reload raises no version warning
    assert not [w for w in caught if issubclass(w.category, loom.VersionWarning)]
    assert loom.to_dict(again) == loom.to_dict(original)
    assert again == original


@pytest.mark.parametrize("rel", cases(*LOADABLE))
def test_secrets_stay_out_unless_asked(shared_dir: Path, rel: str) -> None:
    original = corpus_component(shared_dir, rel)
    secrets = secrets_of(original)
    text = loom.dumps(original, "json")
    for key, value in secrets.items():
        assert json.dumps({"$component_ref": key}) in text.replace("\n", "").replace(" ", "") or (
            f'"$component_ref": "{key}"' in text
        )
        if isinstance(value, str):
            assert json.dumps(value) not in text
    inline = loom.dumps(original, "json", include_sensitive=True)
    assert loom.loads(inline, format="json") == original


def test_sensitive_field_is_written_as_a_reference_and_read_back_from_a_registry() -> None:
    llm = loom.spec.OpenAiCompatibleConfig(  # type: ignore[attr-defined]
        id="prod_llm", name="prod", model_id="m", url="https://llm.example/v1", api_key="sk-secret"
    )
    data = loom.to_dict(llm)
    assert data["api_key"] == {"$component_ref": "prod_llm.api_key"}
    assert "sk-secret" not in loom.dumps(llm, "yaml")
    with pytest.raises(loom.LoadError, match="'prod_llm.api_key'"):
        loom.loads(json.dumps(data))
    again = loom.loads(json.dumps(data), registry={"prod_llm.api_key": "sk-secret"})
    assert again.api_key == "sk-secret"  # type: ignore[attr-defined]
    # a falsy secret is written inline, as the SDK does
    empty = loom.spec.OpenAiCompatibleConfig(  # type: ignore[attr-defined]
        id="dev_llm", name="dev", model_id="m", url="http://localhost", api_key=""
    )
    assert loom.to_dict(empty, agentspec_version="25.4.2")["api_key"] == ""


# -- loom -> pyagentspec -> loom -----------------------------------------------------------------------

# Files loom loads that pyagentspec itself refuses for a reason other than the version.
SDK_REFUSES = {
    "docs_examples/pyagentspec_example_config.json": "a data edge feeds a string into a map input",
}


@pytest.mark.parametrize("rel", cases(*LOADABLE))
def test_pyagentspec_reads_what_loom_writes(shared_dir: Path, rel: str) -> None:
    if rel in SDK_REFUSES:
        pytest.skip(f"pyagentspec refuses this file itself: {SDK_REFUSES[rel]}")
    original = corpus_component(shared_dir, rel)
    secrets = secrets_of(original) or None
    text = loom.dumps(original, "json")
    sdk_component = sdk_serialization.AgentSpecDeserializer().from_json(
        text, components_registry=secrets
    )
    assert sdk_component.id == original.id
    assert type(sdk_component).__name__ == original.component_type
    # ... and writes back, as pyagentspec does, the very document loom wrote.
    sdk_text = sdk_serialization.AgentSpecSerializer().to_json(sdk_component)
    again = loom.loads(sdk_text, format="json", registry=secrets)
    assert loom.to_dict(again) == loom.to_dict(original)
    assert json.loads(sdk_text) == json.loads(text)


# -- pyagentspec -> loom: flows built with pyagentspec's own Python API ------------------------------------


def _sdk() -> Any:
    """pyagentspec's classes, as attributes (imported only when the tests run)."""
    from pyagentspec import agent, property, tools
    from pyagentspec.flows import edges, flow, nodes
    from pyagentspec.llms import VllmConfig

    return SimpleNamespace(
        Agent=agent.Agent,
        ControlFlowEdge=edges.ControlFlowEdge,
        DataFlowEdge=edges.DataFlowEdge,
        SdkFlow=flow.Flow,
        EndNode=nodes.EndNode,
        LlmNode=nodes.LlmNode,
        MapNode=nodes.MapNode,
        OutputMessageNode=nodes.OutputMessageNode,
        ParallelFlowNode=nodes.ParallelFlowNode,
        StartNode=nodes.StartNode,
        ToolNode=nodes.ToolNode,
        VllmConfig=VllmConfig,
        DictProperty=property.DictProperty,
        IntegerProperty=property.IntegerProperty,
        ListProperty=property.ListProperty,
        StringProperty=property.StringProperty,
        ClientTool=tools.ClientTool,
        ServerTool=tools.ServerTool,
    )


def _sdk_linear(sdk: Any, name: str, nodes: list[Any], wires: list[tuple[Any, str, Any, str]]) -> Any:
    return sdk.SdkFlow(
        id=name,
        name=name,
        start_node=nodes[0],
        nodes=nodes,
        control_flow_connections=[
            sdk.ControlFlowEdge(id=f"{name}_c{i}", name=f"c{i}", from_node=a, to_node=b)
            for i, (a, b) in enumerate(zip(nodes, nodes[1:], strict=False))
        ],
        data_flow_connections=[
            sdk.DataFlowEdge(
                id=f"{name}_d{i}", name=f"d{i}", source_node=s, source_output=o,
                destination_node=d, destination_input=n,
            )
            for i, (s, o, d, n) in enumerate(wires)
        ],
    )


def sdk_small_flow(sdk: Any) -> Any:
    llm = sdk.VllmConfig(id="llm", name="llm", model_id="m", url="http://127.0.0.1:18765/v1")
    user = sdk.StringProperty(title="user_name")
    start = sdk.StartNode(id="start", name="start", inputs=[user])
    greet = sdk.LlmNode(id="greet", name="greet", llm_config=llm, prompt_template="Greet {{ user_name }}")
    say = sdk.OutputMessageNode(id="say", name="say", message="{{text}}")
    end = sdk.EndNode(id="end", name="end", outputs=[sdk.StringProperty(title="greeting")])
    return _sdk_linear(sdk, "small_flow", [start, greet, say, end], [
        (start, "user_name", greet, "user_name"),
        (greet, "generated_text", say, "text"),
        (greet, "generated_text", end, "greeting"),
    ])


def sdk_parallel_flow(sdk: Any) -> Any:
    user = sdk.StringProperty(title="username")
    # one LLM config shared by two subflows: written once, in the deepest common ancestor
    llm = sdk.VllmConfig(id="shared_llm", name="shared", model_id="m", url="http://127.0.0.1:18765/v1")

    def branch(label: str, out: Any) -> Any:
        tool = sdk.ServerTool(id=f"{label}_tool", name=f"get_{label}", inputs=[user], outputs=[out])
        start = sdk.StartNode(id=f"{label}_start", name="start", inputs=[user])
        step = sdk.ToolNode(id=f"{label}_step", name=f"{label}_step", tool=tool)
        note = sdk.LlmNode(id=f"{label}_note", name=f"{label}_note", llm_config=llm,
                           prompt_template="{{x}}", outputs=[sdk.StringProperty(title=f"{label}_note")])
        end = sdk.EndNode(id=f"{label}_end", name="end",
                          outputs=[out, sdk.StringProperty(title=f"{label}_note")])
        return _sdk_linear(sdk, f"{label}_flow", [start, step, note, end], [
            (start, "username", step, "username"),
            (step, out.title, note, "x"),
            (step, out.title, end, out.title),
            (note, f"{label}_note", end, f"{label}_note"),
        ])

    info = sdk.DictProperty(title="user_info", value_type=sdk.StringProperty(title="v"))
    bought = sdk.ListProperty(title="purchases", item_type=sdk.StringProperty(title="item"))
    parallel = sdk.ParallelFlowNode(id="pfn", name="pfn", subflows=[branch("info", info), branch("purchases", bought)])
    start = sdk.StartNode(id="start", name="start", inputs=[user])
    end = sdk.EndNode(id="end", name="end", outputs=[info])
    return _sdk_linear(sdk, "parallel_flow", [start, parallel, end], [
        (start, "username", parallel, "username"),
        (parallel, "user_info", end, "user_info"),
    ])


def sdk_map_flow(sdk: Any) -> Any:
    number = sdk.IntegerProperty(title="x")
    square = sdk.IntegerProperty(title="square")
    tool = sdk.ServerTool(id="sq_tool", name="square", inputs=[number], outputs=[square])
    inner_start = sdk.StartNode(id="in_start", name="start", inputs=[number])
    step = sdk.ToolNode(id="sq", name="sq", tool=tool)
    inner_end = sdk.EndNode(id="in_end", name="end", outputs=[square])
    inner = _sdk_linear(sdk, "square_flow", [inner_start, step, inner_end], [
        (inner_start, "x", step, "x"), (step, "square", inner_end, "square"),
    ])
    mapper = sdk.MapNode(id="map", name="map", subflow=inner, reducers={"square": "sum"})
    numbers = sdk.ListProperty(title="numbers", item_type=sdk.IntegerProperty(title="n"))
    start = sdk.StartNode(id="start", name="start", inputs=[numbers])
    total = sdk.IntegerProperty(title="total")
    end = sdk.EndNode(id="end", name="end", outputs=[total])
    return _sdk_linear(sdk, "map_flow", [start, mapper, end], [
        (start, "numbers", mapper, "iterated_x"), (mapper, "collected_square", end, "total"),
    ])


def sdk_agent(sdk: Any) -> Any:
    llm = sdk.VllmConfig(id="llm", name="llm", model_id="m", url="http://127.0.0.1:18765/v1")
    return sdk.Agent(
        id="agent",
        name="helper",
        llm_config=llm,
        system_prompt="You help {{ user }}.",
        tools=[
            sdk.ServerTool(id="lookup", name="lookup", inputs=[sdk.StringProperty(title="q")],
                           outputs=[sdk.StringProperty(title="a")]),
            sdk.ClientTool(id="ask", name="ask", inputs=[sdk.StringProperty(title="question")]),
        ],
    )


SDK_BUILDERS = {
    "small flow": sdk_small_flow,
    "ParallelFlowNode flow": sdk_parallel_flow,
    "MapNode flow": sdk_map_flow,
    "agent": sdk_agent,
}


def structure(component: Any) -> dict[str, Any]:
    """Names, types, edges and IO titles of a tree, from loom or pyagentspec objects alike."""

    def io(c: Any) -> tuple[list[str], list[str]]:
        def titles(props: Any) -> list[str]:
            return [p.title for p in props or []]

        return titles(getattr(c, "inputs", None)), titles(getattr(c, "outputs", None))

    found: dict[str, Any] = {}
    stack, seen = [component], set()
    while stack:
        c = stack.pop()
        if id(c) in seen:
            continue
        seen.add(id(c))
        entry: dict[str, Any] = {"type": type(c).__name__, "name": c.name, "io": io(c)}
        if hasattr(c, "control_flow_connections"):
            entry["control"] = sorted(
                (e.from_node.name, e.from_branch, e.to_node.name) for e in c.control_flow_connections
            )
            entry["data"] = sorted(
                (e.source_node.name, e.source_output, e.destination_node.name, e.destination_input)
                for e in c.data_flow_connections or []
            )
            entry["nodes"] = sorted(f"{type(n).__name__}:{n.name}" for n in c.nodes)
            stack.extend(c.nodes)
        for field in ("subflow", "llm_config", "tool"):
            if getattr(c, field, None) is not None:
                stack.append(getattr(c, field))
        for field in ("subflows", "tools"):
            stack.extend(getattr(c, field, None) or [])
        found[c.id] = entry
    return found


@pytest.mark.parametrize("what", sorted(SDK_BUILDERS))
def test_loom_reads_what_pyagentspec_builds(what: str) -> None:
    sdk = _sdk()
    built = SDK_BUILDERS[what](sdk)
    serializer = sdk_serialization.AgentSpecSerializer()
    for fmt, text in (("json", serializer.to_json(built)), ("yaml", serializer.to_yaml(built))):
        ours = loom.loads(text, format=fmt, strict=True)
        assert structure(ours) == structure(built), fmt
        # and loom writes back exactly the document pyagentspec wrote
        parsed = json.loads(text) if fmt == "json" else yaml.safe_load(text)
        assert loom.to_dict(ours) == parsed, fmt


def test_shared_components_live_in_the_deepest_common_ancestor() -> None:
    sdk = _sdk()
    text = sdk_serialization.AgentSpecSerializer().to_json(sdk_parallel_flow(sdk))
    flow = loom.loads(text, format="json")
    data = loom.to_dict(flow)
    assert data == json.loads(text)
    pfn = data["$referenced_components"]["pfn"]
    # the LLM config is used by both subflows: defined once, in the ParallelFlowNode
    assert list(pfn["$referenced_components"]) == ["shared_llm"]
    assert "shared_llm" not in data["$referenced_components"]
    for subflow in pfn["subflows"]:
        note = next(v for k, v in subflow["$referenced_components"].items() if k.endswith("_note"))
        assert note["llm_config"] == {"$component_ref": "shared_llm"}
    # nodes used by edges are referenced and live in their own flow's map; edges inline
    assert data["nodes"] == [{"$component_ref": n} for n in ("start", "pfn", "end")]
    assert all("component_type" in e for e in data["control_flow_connections"])


def test_loom_built_flow_is_written_as_pyagentspec_writes_it() -> None:
    """The same flow built with each library's API gives the same document."""
    sdk = _sdk()
    theirs = json.loads(sdk_serialization.AgentSpecSerializer().to_json(sdk_small_flow(sdk)))
    from loom.spec import (
        ControlFlowEdge,
        DataFlowEdge,
        EndNode,
        LlmNode,
        OutputMessageNode,
        StartNode,
        StringProperty,
        VllmConfig,
    )

    llm = VllmConfig(id="llm", name="llm", model_id="m", url="http://127.0.0.1:18765/v1")
    start = StartNode(id="start", name="start", inputs=[StringProperty("user_name")])
    greet = LlmNode(id="greet", name="greet", llm_config=llm, prompt_template="Greet {{ user_name }}")
    say = OutputMessageNode(id="say", name="say", message="{{text}}")
    end = EndNode(id="end", name="end", outputs=[StringProperty("greeting")])
    nodes = [start, greet, say, end]
    wires = [("user_name", start, greet, "user_name"), ("generated_text", greet, say, "text"),
             ("generated_text", greet, end, "greeting")]
    flow = Flow(
        id="small_flow", name="small_flow", start_node=start, nodes=nodes,
        control_flow_connections=[
            ControlFlowEdge(id=f"small_flow_c{i}", name=f"c{i}", from_node=a, to_node=b)
            for i, (a, b) in enumerate(zip(nodes, nodes[1:], strict=False))
        ],
        data_flow_connections=[
            DataFlowEdge(id=f"small_flow_d{i}", name=f"d{i}", source_node=s, source_output=o,
                         destination_node=d, destination_input=n)
            for i, (o, s, d, n) in enumerate(wires)
        ],
    )
    assert loom.to_dict(flow) == theirs


def test_every_component_of_a_round_trip_keeps_its_io(shared_dir: Path) -> None:
    original = corpus_component(shared_dir, "docs_examples/howto_mapnode.json")
    again = loom.loads(loom.dumps(original, "yaml"), format="yaml")
    before = {c.id: c for c in walk(original) if isinstance(c, ComponentWithIO)}
    after = {c.id: c for c in walk(again) if isinstance(c, ComponentWithIO)}
    assert before.keys() == after.keys()
    for key, component in before.items():
        assert component.inputs == after[key].inputs
        assert component.outputs == after[key].outputs
