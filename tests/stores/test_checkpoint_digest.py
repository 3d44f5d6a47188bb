"""A stored checkpoint whose inputs, journal, answers, pending requests or outcome
were edited is refused on load (the flow has its own digest); checkpoints written
before the checksum existed still load."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from loom.errors import CheckpointError
from loom.runs import RunState, flow_digest

FLOW = {"component_type": "Flow", "name": "f", "nodes": []}


def state(entries: int = 3) -> RunState:
    run = RunState(run_id="r1", status="waiting", flow=FLOW, digest=flow_digest(FLOW),
                   inputs={"n": 1, "text": "héllo"}, answers={"main/ask#1": "yes"},
                   pending=[{"id": "p1", "key": "main/ask#2"}], outputs={},
                   messages=[{"role": "user", "content": "hi"}])
    for i in range(entries):
        run.entries[f"main/step#{i}"] = {"outputs": {"x": i}, "branch": "next"}
    return run


def edited(change: Callable[[dict[str, Any]], None]) -> str:
    data = json.loads(state().to_json())
    change(data)
    return json.dumps(data, ensure_ascii=False)


@pytest.mark.parametrize("change", [
    lambda d: d["inputs"].update(n=2),
    lambda d: d["entries"]["main/step#1"]["outputs"].update(x=99),
    lambda d: d["entries"].pop("main/step#2"),
    lambda d: d["entries"].update({"main/extra#1": {"outputs": {}}}),
    lambda d: d["answers"].update({"main/ask#1": "no"}),
    lambda d: d["pending"].clear(),
    lambda d: d.update(status="finished"),
    lambda d: d["messages"].append({"role": "user", "content": "injected"}),
], ids=["inputs", "entry", "dropped-entry", "added-entry", "answer", "pending", "status",
        "messages"])
def test_an_edited_checkpoint_is_refused(change: Callable[[dict[str, Any]], None]) -> None:
    with pytest.raises(CheckpointError, match="do not match its checksum"):
        RunState.from_json(edited(change), where="the checkpoint of run 'r1'")


def test_an_untouched_checkpoint_loads_whatever_its_spacing() -> None:
    text = state().to_json()
    loaded = RunState.from_json(text)
    assert loaded.entries == state().entries and loaded.inputs == state().inputs
    assert loaded.to_json() == text
    assert RunState.from_json(edited(lambda d: None)).inputs == {"n": 1, "text": "héllo"}


def test_the_checksum_follows_the_journal_as_it_grows_and_after_a_reload() -> None:
    run = state()
    run.to_json()
    run.entries["main/later#1"] = {"outputs": {"y": 1}}
    run.inputs["seen"] = True
    reloaded = RunState.from_json(run.to_json())
    reloaded.entries["main/later#2"] = {"outputs": {"y": 2}}
    assert RunState.from_json(reloaded.to_json()).entries == reloaded.entries
    reloaded.entries = dict(reversed(list(reloaded.entries.items())))  # another order
    assert list(RunState.from_json(reloaded.to_json()).entries) == list(reloaded.entries)


def test_a_checkpoint_written_before_the_checksum_still_loads() -> None:
    old = state().to_json().rsplit(', "checksum": ', 1)[0] + "}"
    assert "checksum" not in old
    assert RunState.from_json(old).inputs == {"n": 1, "text": "héllo"}
