"""`loom runs cancel RUN_ID` on the local backend: a waiting run in the store is marked
cancelled and can no longer be resumed; one that ended is refused; one that a live
process holds is asked to cancel through the store (tests/server/test_many_processes.py
has a `loom serve` doing it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loom.cli import main, runs
from loom.stores import open_store
from loom.stores.base import make_owner

from .test_resume import place as place  # fixture, re-exported
from .test_resume import run_json, start_greeter


def test_a_waiting_run_is_cancelled_and_cannot_be_resumed(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start_greeter(place, capsys, "r1")
    code, data = run_json(capsys, "runs", "cancel", "r1", "--json")
    assert (code, data) == (0, {"run_id": "r1", "status": "cancelled"})
    code, shown = run_json(capsys, "runs", "show", "r1", "--json")
    assert shown["status"] == "cancelled" and shown["pending"] == []
    assert shown["error"] == {"node": "greeter", "message": "the run was cancelled"}
    assert main(["resume", "r1", "--answer", "Ada"]) == 2
    assert "run 'r1' already cancelled; there is nothing to resume" in capsys.readouterr().err
    assert main(["runs", "cancel", "r1"]) == 0  # again: it stays cancelled
    assert "cancelled run r1 (it was already)" in capsys.readouterr().out
    assert main(["runs", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["r1", "cancelled"]


def test_a_finished_or_missing_run_is_not_cancelled(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start_greeter(place, capsys, "r2")
    assert main(["resume", "r2", "--answer", "Cy"]) == 0
    capsys.readouterr()
    assert main(["runs", "cancel", "r2"]) == 1
    assert "run 'r2' already finished; there is nothing to cancel" in capsys.readouterr().err
    code, shown = run_json(capsys, "runs", "show", "r2", "--json")
    assert shown["status"] == "finished"
    assert main(["runs", "cancel", "nope", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "no run with id 'nope'" in captured.err


def test_a_run_a_live_process_holds_is_asked_to_cancel_and_waited_for(
    place: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runs, "CANCEL_WAIT", 0.5)
    start_greeter(place, capsys, "r3")
    store = open_store()
    try:
        store.claim("r3", make_owner())  # as a process resuming it would
        assert main(["runs", "cancel", "r3"]) == 1  # this one does not look for requests
        assert ("run 'r3' was asked to cancel but the process running it has not ended it "
                "in 0.5 s") in capsys.readouterr().err
        assert store.load("r3").status == "waiting"
        assert store.cancel_requests() == ["r3"]  # kept for its holder
    finally:
        store.close()
