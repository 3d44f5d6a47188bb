"""Documents a careless or hostile writer produces are refused, not half-read:
duplicate keys (JSON and YAML, with the key and its line), NaN and Infinity, and
store URLs that name nothing loom can open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import loom
from loom.errors import CheckpointError, LoadError
from loom.stores import open_store, store_opener

FLOW = {
    "component_type": "Flow", "id": "f", "name": "f", "agentspec_version": "25.4.1",
    "start_node": {"$component_ref": "s"}, "nodes": [{"$component_ref": "s"},
                                                    {"$component_ref": "e"}],
    "control_flow_connections": [{"component_type": "ControlFlowEdge", "id": "c", "name": "c",
                                  "from_node": {"$component_ref": "s"},
                                  "to_node": {"$component_ref": "e"}}],
    "$referenced_components": {
        "s": {"component_type": "StartNode", "id": "s", "name": "start"},
        "e": {"component_type": "EndNode", "id": "e", "name": "end"},
    },
}


def test_the_reference_document_loads() -> None:
    assert loom.loads(json.dumps(FLOW, indent=2)).name == "f"


def test_a_duplicate_key_in_json_is_refused_with_its_line() -> None:
    text = json.dumps(FLOW, indent=2).replace('"name": "f",', '"name": "f",\n  "name": "g",', 1)
    line = text.splitlines().index('  "name": "g",') + 1
    with pytest.raises(LoadError, match=f"duplicate key 'name' \\(line {line}\\)"):
        loom.loads(text, format="json")


def test_a_duplicate_key_in_yaml_is_refused_with_its_line_and_column() -> None:
    text = "component_type: Flow\nname: f\nid: f\nname: g\n"
    with pytest.raises(LoadError, match="duplicate key 'name' \\(line 4, column 1\\)"):
        loom.loads(text, format="yaml")
    nested = "a:\n  b: 1\n  c:\n    d: 1\n    d: 2\n"
    with pytest.raises(LoadError, match="duplicate key 'd' \\(line 5, column 5\\)"):
        loom.loads(nested, format="yaml")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused_in_json(constant: str) -> None:
    text = json.dumps({**FLOW, "metadata": {"x": 1.5}}, indent=2).replace("1.5", constant)
    with pytest.raises(LoadError, match="NaN and Infinity are not JSON"):
        loom.loads(text, format="json")


@pytest.mark.parametrize("constant", [".nan", ".inf", "-.Inf", "+.INF", ".NaN"])
def test_nan_and_infinity_are_refused_in_yaml(constant: str) -> None:
    text = f"component_type: Flow\nmetadata:\n  x: {constant}\n"
    with pytest.raises(LoadError, match="NaN and Infinity are not allowed \\(line 3, column 6\\)"):
        loom.loads(text, format="yaml")


def test_yaml_strings_that_look_like_constants_and_shared_anchors_still_load() -> None:
    text = ("a: &x {k: '.nan', n: NaN, i: .infinite}\nb: *x\nc: *x\n")
    from loom.serialization.reader import parse_text
    assert parse_text(text, "yaml")["c"] == {"k": ".nan", "n": "NaN", "i": ".infinite"}


@pytest.mark.parametrize("url", ["garbage", "runs", "/tmp/dir/garbage", "redis://x/y.db",
                                 "sqlite"])
def test_a_store_url_loom_cannot_open_is_refused_naming_the_forms(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="unknown store URL") as caught:
        store_opener(url)
    assert "sqlite:///" in (caught.value.hint or "") and "memory:" in (caught.value.hint or "")
    assert list(tmp_path.iterdir()) == []


def test_plain_sqlite_file_paths_still_open(tmp_path: Path) -> None:
    for name in ("runs.sqlite3", "runs.sqlite", "runs.db"):
        open_store(str(tmp_path / name)).close()
        assert (tmp_path / name).exists()
