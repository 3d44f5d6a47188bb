"""Load errors: each names the problem, the component (type, name, id) and where it is."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

import loom
from loom.errors import LoadError, LoomError, SpecError, VersionError


def ref(key: str) -> dict[str, str]:
    return {"$component_ref": key}


def base() -> dict[str, Any]:
    """A valid flow: start(text) -> echo tool -> end(echoed)."""
    string = {"type": "string"}
    return {
        "component_type": "Flow",
        "id": "main_flow",
        "name": "main",
        "start_node": ref("n_start"),
        "nodes": [ref("n_start"), ref("n_echo"), ref("n_end")],
        "control_flow_connections": [
            {"component_type": "ControlFlowEdge", "id": "c1", "name": "start_to_echo",
             "from_node": ref("n_start"), "from_branch": None, "to_node": ref("n_echo")},
            {"component_type": "ControlFlowEdge", "id": "c2", "name": "echo_to_end",
             "from_node": ref("n_echo"), "from_branch": None, "to_node": ref("n_end")},
        ],
        "data_flow_connections": [
            {"component_type": "DataFlowEdge", "id": "d1", "name": "text_in",
             "source_node": ref("n_start"), "source_output": "text",
             "destination_node": ref("n_echo"), "destination_input": "text"},
            {"component_type": "DataFlowEdge", "id": "d2", "name": "echoed_out",
             "source_node": ref("n_echo"), "source_output": "echoed",
             "destination_node": ref("n_end"), "destination_input": "echoed"},
        ],
        "$referenced_components": {
            "n_start": {"component_type": "StartNode", "id": "n_start", "name": "start",
                        "inputs": [{"title": "text", **string}]},
            "n_echo": {"component_type": "ToolNode", "id": "n_echo", "name": "echo_step",
                       "tool": {"component_type": "ServerTool", "id": "echo_tool", "name": "echo",
                                "inputs": [{"title": "text", **string}],
                                "outputs": [{"title": "echoed", **string}]}},
            "n_end": {"component_type": "EndNode", "id": "n_end", "name": "end",
                      "inputs": [{"title": "echoed", **string}]},
        },
        "agentspec_version": "25.4.1",
    }


def load(document: dict[str, Any], **kwargs: Any) -> loom.spec.Component:
    return loom.loads(json.dumps(document), format="json", **kwargs)


def error_of(document: dict[str, Any], kind: type[LoomError] = LoomError) -> str:
    with pytest.raises(kind) as info:
        load(document)
    return str(info.value)


def test_the_base_document_loads() -> None:
    flow = load(base())
    assert [n.name for n in flow.nodes] == ["start", "echo_step", "end"]  # type: ignore[attr-defined]


# -- syntax ------------------------------------------------------------------------------------


def test_malformed_json_gives_line_and_column() -> None:
    text = '{\n  "component_type": "Flow",\n  "name": ,\n}'
    with pytest.raises(LoadError) as info:
        loom.loads(text, format="json", source="broken.json")
    message = str(info.value)
    assert "broken.json is not valid JSON" in message
    assert "line 3, column 11" in message


def test_malformed_yaml_gives_line_and_column() -> None:
    text = "component_type: Flow\nname: main\nnodes: [a, b\nid: x\n"
    with pytest.raises(LoadError) as info:
        loom.loads(text, format="yaml", source="broken.yaml")
    message = str(info.value)
    assert "broken.yaml is not valid YAML" in message
    assert "line 4, column 3" in message


def test_yaml_python_tags_are_refused() -> None:
    text = "component_type: Flow\nname: !!python/object/apply:os.system ['echo hacked']\n"
    with pytest.raises(LoadError) as info:
        loom.loads(text, format="yaml", source="evil.yaml")
    message = str(info.value)
    assert "evil.yaml is not valid YAML" in message
    assert "python/object/apply:os.system" in message
    assert "line 2, column 7" in message
    assert "Python and unknown tags are not allowed" in message


def test_a_document_must_be_an_object() -> None:
    with pytest.raises(LoadError, match="must hold one object .*not list"):
        loom.loads("[1, 2]", format="json")


# -- component types and references ---------------------------------------------------------------


def test_unknown_component_type_names_the_type_the_component_and_the_plugin_rule() -> None:
    doc = base()
    doc["$referenced_components"]["n_echo"]["component_type"] = "RegexNode"
    message = error_of(doc, LoadError)
    assert message.startswith("RegexNode 'echo_step' (id n_echo): unknown component_type 'RegexNode'")
    assert "[at $['$referenced_components'].n_echo]" in message
    assert "plugin" in message and "import the Python module" in message


def test_all_unknown_types_are_named_at_once() -> None:
    doc = base()
    doc["$referenced_components"]["n_echo"]["component_type"] = "RegexNode"
    doc["$referenced_components"]["n_echo"]["tool"]["component_type"] = "ShellTool"
    message = error_of(doc, LoadError)
    assert "'RegexNode'" in message and "'ShellTool'" in message
    assert "$['$referenced_components'].n_echo.tool" in message


def test_dangling_reference_names_the_id_and_where_it_is_used() -> None:
    doc = base()
    doc["nodes"][1] = ref("n_missing")
    message = error_of(doc, LoadError)
    assert "1 reference(s) point at nothing: 'n_missing' (used at $.nodes[1]" in message
    assert "registry" in message


def test_reference_cycle_names_every_component_on_it() -> None:
    doc = base()
    inner = {
        "component_type": "FlowNode", "id": "n_inner", "name": "inner",
        "subflow": ref("sub_flow"),
    }
    sub = copy.deepcopy(base())
    sub.pop("agentspec_version")
    sub.update(id="sub_flow", name="sub")
    sub["$referenced_components"] = {}
    # the subflow runs the outer flow: outer -> FlowNode -> sub -> FlowNode -> outer...
    sub_refs = {"s2": {"component_type": "StartNode", "id": "s2", "name": "s2"},
                "e2": {"component_type": "EndNode", "id": "e2", "name": "e2"},
                "f2": {"component_type": "FlowNode", "id": "f2", "name": "back", "subflow": ref("outer")}}
    sub = {"component_type": "Flow", "id": "sub_flow", "name": "sub", "start_node": ref("s2"),
           "nodes": [ref("s2"), ref("f2"), ref("e2")],
           "control_flow_connections": [
               {"component_type": "ControlFlowEdge", "id": "x1", "name": "x1", "from_node": ref("s2"), "to_node": ref("f2")},
               {"component_type": "ControlFlowEdge", "id": "x2", "name": "x2", "from_node": ref("f2"), "to_node": ref("e2")}],
           "$referenced_components": sub_refs}
    outer = {"component_type": "Flow", "id": "outer_flow", "name": "outer", "start_node": ref("s1"),
             "nodes": [ref("s1"), ref("n_inner"), ref("e1")],
             "control_flow_connections": [
                 {"component_type": "ControlFlowEdge", "id": "y1", "name": "y1", "from_node": ref("s1"), "to_node": ref("n_inner")},
                 {"component_type": "ControlFlowEdge", "id": "y2", "name": "y2", "from_node": ref("n_inner"), "to_node": ref("e1")}],
             "$referenced_components": {
                 "s1": {"component_type": "StartNode", "id": "s1", "name": "s1"},
                 "e1": {"component_type": "EndNode", "id": "e1", "name": "e1"},
                 "n_inner": inner}}
    document = {"$component_ref": "outer", "$referenced_components": {"outer": outer, "sub_flow": sub},
                "agentspec_version": "25.4.1"}
    del doc
    with pytest.raises(LoadError) as info:
        load(document)
    message = str(info.value)
    assert "circular reference: Flow 'outer' (id outer_flow) contains FlowNode 'inner' (id n_inner)" in message
    assert "contains Flow 'sub' (id sub_flow) contains FlowNode 'back' (id f2) contains Flow 'outer'" in message
    assert "[at $['$referenced_components'].sub_flow['$referenced_components'].f2.subflow]" in message


def test_self_referencing_flow_is_a_cycle() -> None:
    doc = base()
    doc["$referenced_components"]["n_self"] = {
        "component_type": "FlowNode", "id": "n_self", "name": "again", "subflow": ref("main_flow"),
    }
    doc["nodes"].append(ref("n_self"))
    message = error_of(doc, LoadError)
    assert "circular reference: Flow 'main' (id main_flow) contains FlowNode 'again' (id n_self) contains Flow 'main'" in message


def test_an_id_defined_in_two_reference_blocks() -> None:
    doc = base()
    tool = doc["$referenced_components"]["n_echo"].pop("tool")
    doc["$referenced_components"]["n_echo"]["tool"] = ref("echo_tool")
    doc["$referenced_components"]["n_echo"]["$referenced_components"] = {"echo_tool": tool}
    doc["$referenced_components"]["echo_tool"] = copy.deepcopy(tool)
    message = error_of(doc, LoadError)
    assert "ServerTool 'echo' (id echo_tool): id 'echo_tool' is defined twice in $referenced_components" in message
    assert "$['$referenced_components'].echo_tool" in message
    assert "$['$referenced_components'].n_echo['$referenced_components'].echo_tool" in message


def test_two_inline_components_with_one_id() -> None:
    doc = base()
    doc["control_flow_connections"][1]["id"] = "c1"
    message = error_of(doc, LoadError)
    assert "id 'c1' is used by two components: ControlFlowEdge 'start_to_echo' (id c1) at $.control_flow_connections[0]" in message
    assert "ControlFlowEdge 'echo_to_end'" in message
    assert "[at $.control_flow_connections[1]]" in message


def test_a_reference_object_holds_nothing_else() -> None:
    doc = base()
    doc["nodes"][0] = {"$component_ref": "n_start", "name": "oops"}
    message = error_of(doc, LoadError)
    assert "a reference object holds only $component_ref, this one also has ['name']" in message
    assert "[at $.nodes[0]]" in message


def test_a_component_field_given_a_plain_object() -> None:
    doc = base()
    doc["$referenced_components"]["n_echo"]["tool"] = {"inputs": [], "outputs": []}
    message = error_of(doc, LoadError)
    assert "ToolNode 'echo_step' (id n_echo): field 'tool' must hold a component" in message
    assert "[at $['$referenced_components'].n_echo.tool]" in message


def test_a_missing_required_field() -> None:
    doc = base()
    del doc["$referenced_components"]["n_echo"]["tool"]
    message = error_of(doc, LoadError)
    assert "ToolNode 'echo_step' (id n_echo): field 'tool' is required" in message
    assert "[at $['$referenced_components'].n_echo]" in message


# -- flow structure ---------------------------------------------------------------------------------


def test_control_edge_to_a_node_outside_the_flow() -> None:
    doc = base()
    doc["$referenced_components"]["n_other"] = {"component_type": "EndNode", "id": "n_other", "name": "elsewhere"}
    doc["control_flow_connections"][1]["to_node"] = ref("n_other")
    message = error_of(doc, SpecError)
    assert message.startswith("ControlFlowEdge 'echo_to_end' (id c2): to_node EndNode 'elsewhere' is not a node of flow 'main'")
    assert "[at $.control_flow_connections[1]]" in message


def test_data_edge_to_a_missing_input() -> None:
    doc = base()
    doc["data_flow_connections"][0]["destination_input"] = "txt"
    message = error_of(doc, SpecError)
    assert message.startswith("DataFlowEdge 'text_in' (id d1): ToolNode 'echo_step' has no input 'txt'")
    assert "its inputs are ['text']" in message
    assert "[at $.data_flow_connections[0]]" in message


def test_data_edge_from_a_missing_output() -> None:
    doc = base()
    doc["data_flow_connections"][1]["source_output"] = "result"
    message = error_of(doc, SpecError)
    assert message.startswith("DataFlowEdge 'echoed_out' (id d2): ToolNode 'echo_step' has no output 'result'")
    assert "[at $.data_flow_connections[1]]" in message


def test_incompatible_types_on_a_data_edge() -> None:
    doc = base()
    doc["$referenced_components"]["n_echo"]["tool"]["inputs"][0]["type"] = "integer"
    with pytest.raises(SpecError) as info:
        load(doc, strict=True)
    message = str(info.value)
    assert message.startswith(
        "DataFlowEdge 'text_in' (id d1): output 'text' of StartNode 'start' (string) "
        "cannot feed input 'text' of ToolNode 'echo_step' (integer)"
    )
    assert "[at $.data_flow_connections[0]]" in message
    # The SDK's loader lets such files through: outside strict mode it is a warning.
    with pytest.warns(loom.LoomWarning, match="output 'text' of StartNode 'start' \\(string\\) cannot feed"):
        load(doc)


def test_an_input_nothing_feeds_names_the_node_and_the_fix() -> None:
    doc = base()
    del doc["data_flow_connections"][0]
    message = error_of(doc, SpecError)
    assert message.startswith(
        "ToolNode 'echo_step' (id n_echo): input 'text' is fed by no data edge of flow 'main'"
    )
    assert "[at $['$referenced_components'].n_echo]" in message
    assert "output 'text' of StartNode 'start' is read by nothing" in message


def test_io_that_does_not_match_the_configuration() -> None:
    doc = base()
    doc["$referenced_components"]["n_echo"]["inputs"] = [{"title": "other", "type": "string"}]
    message = error_of(doc, SpecError)
    assert message.startswith("ToolNode 'echo_step' (id n_echo): declared inputs do not match")
    assert "missing ['text'], unexpected ['other']" in message


# -- versions and document shapes -------------------------------------------------------------------


def test_unsupported_version() -> None:
    doc = base()
    doc["agentspec_version"] = "20.99.99"
    with pytest.raises(VersionError) as info:
        loom.loads(json.dumps(doc), source="old.json")
    message = str(info.value)
    assert "old.json: unsupported agentspec_version '20.99.99'" in message
    assert "25.3.0, 25.3.1, 25.4.1, 25.4.2, 26.1.0, 26.1.2, 26.3.1" in message


def test_feature_newer_than_the_declared_version_is_refused_when_strict() -> None:
    doc = base()
    pfn = {"component_type": "ParallelFlowNode", "id": "n_par", "name": "par", "subflows": []}
    doc["$referenced_components"]["n_par"] = pfn
    doc["nodes"].append(ref("n_par"))
    doc["control_flow_connections"][1]["to_node"] = ref("n_par")
    doc["control_flow_connections"].append(
        {"component_type": "ControlFlowEdge", "id": "c3", "name": "par_to_end",
         "from_node": ref("n_par"), "to_node": ref("n_end")})
    with pytest.warns(loom.VersionWarning, match="declares agentspec_version 25.4.1, but ParallelFlowNode needs 25.4.2"):
        load(doc)
    with pytest.raises(VersionError, match="ParallelFlowNode needs 25.4.2"):
        load(doc, strict=True)


def test_registry_document_loaded_as_a_component() -> None:
    doc = {"$referenced_components": {"echo_tool": base()["$referenced_components"]["n_echo"]["tool"]}}
    with pytest.raises(LoadError, match="is a disaggregated components document, not a component"):
        load(doc)


def test_legacy_format_is_named_as_such() -> None:
    doc = base()
    doc["nodes"][0] = {"$ref": "n_start"}
    message = error_of(doc, LoadError)
    assert "is not loadable: '$ref' key at $.nodes[0]" in message
    assert "not Agent Spec JSON/YAML as written by current tools" in message


def test_json5_files_are_refused_as_legacy(tmp_path: Any) -> None:
    path = tmp_path / "flow.json5"
    path.write_text(json.dumps(base()))
    with pytest.raises(LoadError, match="is a JSON5 file.*not Agent Spec JSON/YAML as written by current tools"):
        loom.load(path)


def test_missing_file() -> None:
    with pytest.raises(LoadError, match="file not found: /nonexistent/flow.json"):
        loom.load("/nonexistent/flow.json")
