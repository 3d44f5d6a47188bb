"""The committed ``loom.run/1`` checkpoints (checkpoints/, see checkpoint_fixtures.py)
still resume, and a run made today writes them byte for byte: the step keys and
the journal entries of old checkpoints keep their meaning."""

from __future__ import annotations

from typing import Any

import pytest

from loom.runs import RunState
from loom.runtime.journal import PendingRequest
from loom.testing import FakeLlmServer

from .checkpoint_fixtures import FIXTURES, Calls, generate, runtime

NAMES = sorted(FIXTURES)


@pytest.mark.parametrize("name", NAMES)
def test_a_committed_checkpoint_resumes_replaying_what_it_recorded(
    name: str, any_store_backend: Any, fake_llm: FakeLlmServer
) -> None:
    fixture = FIXTURES[name]
    state = RunState.from_json(fixture.checkpoint_path.read_text())
    assert state.status == "waiting" and state.pending
    store = any_store_backend.open()
    store.save(state)
    fixture.script(fake_llm)
    calls = Calls()
    with runtime(fixture, calls, fake_llm, store=store) as rt:
        pending = rt.store.load(fixture.run_id).pending
        answers = {request["id"]: fixture.answer(PendingRequest.from_state(request))
                   for request in pending}
        result = rt.resume(fixture.run_id, answers)
    assert result.status == "finished", result.error
    assert result.outputs == fixture.outputs
    # Recorded steps come back from the journal; only what had not run yet runs now.
    for tool in {*fixture.before, *fixture.after}:
        assert calls.count(tool) == fixture.after.get(tool, 0), tool
    assert len(fake_llm.requests) == fixture.llm_after
    if fixture.last_message is not None:
        assert result.messages[-1]["content"] == fixture.last_message


@pytest.mark.parametrize("name", NAMES)
def test_a_run_made_today_writes_the_committed_checkpoint(
    name: str, fake_llm: FakeLlmServer
) -> None:
    fixture = FIXTURES[name]
    calls = Calls()
    state = generate(fixture, fake_llm, calls)
    committed_text = fixture.checkpoint_path.read_text()
    committed = RunState.from_json(committed_text)
    assert state.pending == committed.pending
    assert state.answers == committed.answers
    assert state.entries == committed.entries
    # Parallel branches record in completion order; the bytes are compared in the
    # committed order.
    state.entries = {key: state.entries[key] for key in committed.entries}
    # The committed files predate the checksum (and still load without it).
    assert state.to_json().rsplit(', "checksum": ', 1)[0] + "}\n" == committed_text
    for tool, count in fixture.before.items():
        assert calls.count(tool) == count, tool
    assert len(fake_llm.requests) == fixture.llm_before

