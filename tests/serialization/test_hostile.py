"""Hostile or careless documents: each ends in a clear LoomError, quickly, never in a
traceback, a blown memory or a silently different component."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import loom
from loom.cli import main
from loom.errors import LoadError, LoomError, SpecError
from loom.runs import flow_digest
from loom.runtime import Runtime
from loom.serialization.reader import MAX_ALIAS_VALUES
from loom.spec import ControlFlowEdge, EndNode, Flow, InputMessageNode, StartNode
from loom.spec.property import StringProperty
from loom.stores import MemoryStore

LOOM_BIN = Path(sys.executable).parent / "loom"
FLOW_YAML = """\
component_type: Flow
id: f
name: echo_flow
start_node: {$component_ref: s}
nodes: [{$component_ref: s}, {$component_ref: e}]
control_flow_connections:
- {component_type: ControlFlowEdge, id: c, name: c,
   from_node: {$component_ref: s}, to_node: {$component_ref: e}}
data_flow_connections: null
$referenced_components:
  s: {component_type: StartNode, id: s, name: start, inputs: [&text {title: text, type: string}]}
  e: {component_type: EndNode, id: e, name: end, inputs: [*text]}
agentspec_version: 25.4.1
"""


def alias_bomb(levels: int, key: str = "metadata") -> str:
    """``levels`` anchors, each a list of ten aliases of the one before."""
    lines = [FLOW_YAML.rstrip(), f"{key}:", "  a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"  a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


# -- item 2: alias bombs --------------------------------------------------------------------


@pytest.mark.parametrize("key", ["metadata", "unknown_key"])
def test_an_alias_bomb_is_refused_before_it_expands(key: str) -> None:
    text = alias_bomb(10, key)
    assert len(text) < 4000
    with pytest.raises(LoadError) as info:
        loom.loads(text, source="bomb.yaml")
    message = str(info.value)
    assert message.startswith("bomb.yaml: its YAML aliases expand to ")
    assert f"more values, over the limit of {MAX_ALIAS_VALUES:,}" in message
    assert added(message) > 10**10


def added(message: str) -> int:
    found = re.search(r"expand to ([\d,]+) more values", message)
    assert found is not None, message
    return int(found[1].replace(",", ""))


def test_the_alias_limit_counts_what_aliases_add() -> None:
    under = alias_bomb(4)  # the aliases add some 12,000 values: loads
    flow = loom.loads(under, source="ok.yaml")
    assert len(flow.metadata["a3"]) == 10  # type: ignore[index]
    assert flow.metadata["a3"][9][9][9] == ["x"] * 10  # type: ignore[index]
    with pytest.raises(LoadError) as info:
        loom.loads(alias_bomb(5), source="big.yaml")
    assert 10**5 < added(str(info.value)) < 2 * 10**5


def test_a_document_with_a_few_aliases_loads() -> None:
    flow = loom.loads(FLOW_YAML, source="flow.yaml")
    end = flow.nodes[1]  # type: ignore[attr-defined]
    assert end.inputs[0].json_schema == {"title": "text", "type": "string"}


@pytest.mark.parametrize(
    "value", ["&a [*a]", "&a {x: *a}", "&a [1, [2, *a]]", "&a [1, {k: [*a]}]"]
)
def test_an_alias_that_contains_itself_is_refused(value: str) -> None:
    text = FLOW_YAML + f"metadata:\n  loop: {value}\n"
    with pytest.raises(LoadError) as info:
        loom.loads(text, source="loop.yaml")
    assert str(info.value).startswith(
        "loop.yaml: a YAML alias contains itself (the anchor at line 15, column 9)"
    )


def test_validate_refuses_an_alias_bomb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(10))
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"INVALID {path}: {path}: its YAML aliases expand to ")
    assert added(out) > 10**10


# -- item 3: one id, two components ---------------------------------------------------------


def flow_document() -> dict[str, Any]:
    return yaml.safe_load(FLOW_YAML)  # type: ignore[no-any-return]


def test_a_flow_with_the_id_of_its_start_node_is_refused() -> None:
    document = flow_document()
    document["id"] = "s"
    with pytest.raises(LoadError) as info:
        loom.loads(json.dumps(document), source="dup.json")
    assert str(info.value) == (
        "Flow 'echo_flow' (id s): id 's' is used by two components: StartNode 'start' (id s) "
        "at $['$referenced_components'].s and Flow 'echo_flow' (id s) [at $]. ids must be "
        "unique in a document: write the component once and refer to it with "
        '{"$component_ref": "s"}, or give one of them another id'
    )


def test_an_unused_definition_may_not_share_the_id_of_a_component() -> None:
    document = flow_document()
    document["$referenced_components"]["f"] = {
        "component_type": "EndNode", "id": "f", "name": "spare"}
    with pytest.raises(LoadError, match=(
        r"^Flow 'echo_flow' \(id f\): id 'f' is used by two components: EndNode 'spare' "
        r"\(id f\) at \$\['\$referenced_components'\]\.f and Flow 'echo_flow' \(id f\) \[at \$\]"
    )):
        loom.loads(json.dumps(document))


@pytest.mark.parametrize("command", [["validate"], ["convert", "--to", "json"]])
def test_the_cli_refuses_a_flow_with_the_id_of_its_start_node(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = flow_document()
    document["id"] = "s"
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(document))
    assert main([command[0], str(path), *command[1:]]) == 1
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "id 's' is used by two components: StartNode 'start' (id s)" in text
    assert '"component_type": "StartNode"' not in text and "OK" not in text


def python_flow(flow_id: str) -> Flow:
    start = StartNode(id="s", name="start", inputs=[StringProperty("text")])
    ask = InputMessageNode(id="ask", name="ask", message="Topic?")
    end = EndNode(id="e", name="end", inputs=[StringProperty("text")])
    return Flow(
        id=flow_id, name="flow", start_node=start, nodes=[start, ask, end],
        control_flow_connections=[
            ControlFlowEdge(id="c1", name="c1", from_node=start, to_node=ask),
            ControlFlowEdge(id="c2", name="c2", from_node=ask, to_node=end),
        ],
    )


def test_a_built_flow_with_the_id_of_its_start_node_cannot_be_written() -> None:
    with pytest.raises(SpecError, match=(
        r"^id 's' is used by two components: Flow 'flow' \(id s\) and StartNode 'start'"
    )):
        loom.dumps(python_flow("s"))


def test_resume_refuses_a_checkpoint_whose_flow_has_the_id_of_its_start_node() -> None:
    store = MemoryStore()
    waiting = Runtime(store=store).run(python_flow("f"), {"text": "hi"})
    assert waiting.status == "waiting" and waiting.run_id is not None
    state = store.load(waiting.run_id)
    assert state.flow["id"] == "f" and "s" in state.flow["$referenced_components"]
    state.flow["id"] = "s"  # as a hand-edited or foreign checkpoint could hold it
    state.digest = flow_digest(state.flow)
    store.save(state)
    with pytest.raises(LoomError, match="id 's' is used by two components: StartNode 'start'"):
        Runtime(store=store).resume(waiting.run_id, {waiting.pending[0].id: "tents"})
    assert store.load(waiting.run_id).status == "waiting"  # kept as it was


# -- item 4: a clear error, never a traceback -----------------------------------------------


def with_text_schema(schema: dict[str, Any]) -> str:
    document = flow_document()
    for key in ("s", "e"):
        document["$referenced_components"][key]["inputs"] = [{"title": "text", **schema}]
    return json.dumps(document)


def with_field(key: str, value: Any) -> str:
    return json.dumps({**flow_document(), key: value})


def nested(depth: int) -> str:
    return with_field("metadata", {"deep": "DEEP"}).replace('"DEEP"', "[" * depth + "]" * depth)


START = "StartNode 'start' (id s): property 'text'"
# (case, file suffix, text, what the one-line error says)
BAD = [
    ("component_type-list", ".json",
     with_field("component_type", ["Flow"]), "component_type must be a string [at $]"),
    ("component_type-object", ".json",
     with_field("component_type", {"a": 1}), "component_type must be a string [at $]"),
    ("alias-in-itself", ".yaml",
     FLOW_YAML + "metadata:\n  a: &a [*a]\n", "a YAML alias contains itself (the anchor at line 15"),
    ("json-10000-deep", ".json", nested(10_000), "cannot be read: it is nested too deeply"),
    ("json-900-deep", ".json", nested(900), "cannot be read: it is nested too deeply"),
    ("anyOf-true", ".json", with_text_schema({"anyOf": True}),
     f"{START}: malformed JSON Schema: 'anyOf' must be a list"),
    ("properties-abc", ".json", with_text_schema({"type": "object", "properties": "abc"}),
     f"{START}: malformed JSON Schema: 'properties' must be an object"),
    ("items-5", ".json", with_text_schema({"type": "array", "items": 5}),
     f"{START}: malformed JSON Schema: 'items' must be a schema (an object)"),
    ("property-not-an-object", ".json", with_text_schema({"properties": {"a": [1]}}),
     f"{START}: malformed JSON Schema: 'properties['a']' must be a schema (an object)"),
    ("anyOf-item-not-an-object", ".json", with_text_schema({"anyOf": [{"type": "null"}, "x"]}),
     f"{START}: malformed JSON Schema: 'anyOf[1]' must be a schema (an object)"),
    ("deep-bad-subschema", ".json", with_text_schema({"items": {"anyOf": [{"items": 5}]}}),
     f"{START} > items > anyOf[0]: malformed JSON Schema: 'items' must be a schema"),
    ("type-1-2", ".json", with_text_schema({"type": [1, 2]}),
     f"{START}: malformed JSON Schema: 'type' must name JSON types, not [1, 2]"),
    ("type-5", ".json", with_text_schema({"type": 5}),
     f"{START}: malformed JSON Schema: 'type' must name JSON types, not 5"),
    ("component-in-schema", ".json", with_text_schema({"properties": {"a": {
        "component_type": "StartNode", "id": "x", "name": "x"}}}),
     f"{START} > properties['a']: malformed JSON Schema: a component cannot sit in it"),
    ("reference-in-schema", ".json", with_text_schema({"items": {"$component_ref": "e"}}),
     f"{START} > items: malformed JSON Schema: a component cannot sit in it"),
    ("5000-digit-integer", ".json", with_text_schema({"default": "BIG"}).replace(
        '"BIG"', "9" * 5000), "cannot be read: Exceeds the limit (4300 digits) for integer"),
    ("5000-digit-integer-yaml", ".yaml", FLOW_YAML + f"metadata: {{n: {'9' * 5000}}}\n",
     "cannot be read: Exceeds the limit (4300 digits) for integer"),
    ("lone-surrogate-in-name", ".json", with_field("name", "a\ud800b"),
     "holds a lone surrogate (\\uD800-\\uDFFF)"),
    ("reference-as-description", ".json", with_field("description", {"$component_ref": "s"}),
     "Flow 'echo_flow' (id f): field 'description': Input should be a valid string [at $]"),
]


def write(tmp_path: Path, suffix: str, text: str) -> Path:
    path = tmp_path / f"case{suffix}"
    path.write_text(text, encoding="utf-8")  # json.dumps escapes surrogates: ASCII
    return path


@pytest.mark.parametrize(("suffix", "text", "message"), [p[1:] for p in BAD],
                         ids=[p[0] for p in BAD])
def test_a_bad_document_gives_one_clear_line(
    suffix: str, text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, suffix, text)
    with pytest.raises((LoadError, SpecError)) as info:
        loom.load(path)
    assert message in str(info.value)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"INVALID {path}: ") and message in out and out.count("\n") == 1
    assert main(["convert", str(path), "--to", "yaml"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and message in captured.err
    assert captured.err.count("\n") == 1


def test_the_real_command_prints_a_lone_surrogate_as_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, ".json", with_field("name", "a\ud800b"))
    for command in (["validate", str(path)], ["convert", str(path), "--to", "json"]):
        done = subprocess.run([str(LOOM_BIN), *command], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert "holds a lone surrogate" in done.stdout + done.stderr


def test_convert_refuses_a_document_too_deep_to_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, ".json", nested(400))  # loads, but PyYAML cannot write it
    assert main(["convert", str(path), "--to", "yaml"]) == 1
    assert capsys.readouterr().err == "error: Flow 'echo_flow' (id f) is nested too deeply to write\n"


# -- item 5: references resolve where components go ----------------------------------------


def test_a_reference_in_plain_data_stays_data() -> None:
    document = flow_document()
    start = document["$referenced_components"]["s"]
    start["inputs"][0]["default"] = {"$component_ref": "e"}
    document["metadata"] = {"see": {"$component_ref": "nowhere"}, "list": [{"$component_ref": "s"}]}
    flow = loom.loads(json.dumps(document))
    assert flow.nodes[0].inputs[0].default == {"$component_ref": "e"}  # type: ignore[attr-defined]
    assert flow.metadata == document["metadata"]
    again = json.loads(loom.dumps(flow))
    assert again["metadata"] == document["metadata"]


def test_a_whole_plain_field_given_apart_still_resolves() -> None:
    document = {"component_type": "OpenAiCompatibleConfig", "id": "llm", "name": "llm",
                "model_id": "m", "url": {"$component_ref": "llm.url"},
                "api_key": {"$component_ref": "llm.api_key"}, "agentspec_version": "25.4.2"}
    llm = loom.loads(json.dumps(document),
                     registry={"llm.url": "http://x/v1", "llm.api_key": "sk-1"})
    assert (llm.url, llm.api_key) == ("http://x/v1", "sk-1")  # type: ignore[attr-defined]
