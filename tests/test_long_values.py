"""A message quotes the value to fix, never a 5,000-character (or digit) value whole,
however many times it names it: loom.errors.shorten cuts each long one to its start
and length, for every LoomError, its describe() text and the CLI alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import loom
from loom.cli import main
from loom.errors import LONG_VALUE, LoomError, describe, shorten
from loom.spec import ControlFlowEdge, EndNode, Flow, Property, StartNode

HUGE = "x" * 5000
DIGITS = "9" * 5000


def small_flow() -> Flow:
    start = StartNode(name="start", inputs=[Property(json_schema={"title": "n",
                                                                  "type": "integer"})])
    end = EndNode(name="end")
    return Flow(name="f", start_node=start, nodes=[start, end],
                control_flow_connections=[ControlFlowEdge(name="e", from_node=start,
                                                          to_node=end)])


def test_shorten_cuts_long_words_and_quoted_values_and_keeps_the_rest() -> None:
    assert shorten(f"got '{HUGE}', fix it") == f"got '{'x' * 39}…' (5,000 characters), fix it"
    assert shorten(f"value {DIGITS} is big") == f"value {'9' * 40}… (5,000 characters) is big"
    spaced = "a b " * 100
    assert shorten(f"got '{spaced}'") == f"got '{spaced[:39]}…' (400 characters)"
    short = "LlmNode 'n' (id 1f2e): got 'abc' [at $.nodes[1]]. fix it"
    assert shorten(short) == short
    path = "$" + "['$referenced_components']['0123456789abcdef0123456789abcdef']" * 6
    assert len(path) > LONG_VALUE and shorten(f"bad [at {path}]") == f"bad [at {path}]"


def test_a_load_error_naming_a_huge_value_twice_stays_short() -> None:
    document = json.loads(loom.dumps(small_flow()))
    document["component_type"] = HUGE
    with pytest.raises(LoomError) as caught:
        loom.loads(json.dumps(document), format="json")
    text = str(caught.value)
    assert HUGE[:300] not in text and len(text) < 600, text
    assert text.count("(5,000 characters)") == 2


def test_a_huge_id_shared_by_two_components_is_cut_at_every_mention() -> None:
    document = json.loads(loom.dumps(small_flow()))
    start_id = document["start_node"]["$component_ref"]
    text = json.dumps(document).replace(start_id, HUGE)
    document = json.loads(text)
    document["id"] = HUGE  # the flow and its StartNode: one id for two components
    with pytest.raises(LoomError) as caught:
        loom.loads(json.dumps(document), format="json")
    text = describe(caught.value)
    assert HUGE[:300] not in text and len(text) < 1000, text
    assert text.count("(5,000 characters)") == 5  # the id, at each of its mentions


def test_the_cli_refuses_huge_inputs_in_one_short_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOOM_STORE", f"sqlite:///{tmp_path}/runs.sqlite3")
    config = tmp_path / "f.json"
    config.write_text(loom.dumps(small_flow()))
    assert main(["run", str(config), "-i", f"n={HUGE}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: input 'n' is declared integer, but 'xxx")
    assert len(err) < 400 and "(5,000 characters)" in err
    assert main(["run", str(config), "--inputs-json", f'{{"n": {DIGITS}}}']) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --inputs-json is not valid JSON: Exceeds the limit (4300 "
                          "digits) for integer string conversion"), err
    assert "Traceback" not in err and len(err.splitlines()) == 1
