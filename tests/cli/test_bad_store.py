"""A --store or $LOOM_STORE that is no store URL is a usage error (exit 2, one line,
nothing created) for every command that reads it; a store URL that cannot be opened
is what `runs` was given wrong (exit 1), as the README says."""

from __future__ import annotations

from pathlib import Path

import pytest

import loom

from .flows import double_flow, run

COMMANDS = [("runs", "list"), ("runs", "list", "--json"), ("runs", "show", "r1"),
            ("runs", "delete", "r1"), ("resume", "r1"), ("run", "{flow}", "-i", "x=1"),
            ("run", "{flow}", "-i", "x=1", "--checkpoint", "nodes"), ("chat", "{flow}")]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_garbage_in_loom_store_exits_2_with_one_line(
    argv: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flow = tmp_path / "double.json"
    flow.write_text(loom.dumps(double_flow()))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOOM_STORE", "garbage")
    code, out, err = run(capsys, *(part.format(flow=flow) for part in argv))
    assert code == 2, (out, err)
    assert err.startswith("error: unknown store URL 'garbage'") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["double.json"]


def test_a_store_that_cannot_be_opened_is_exit_1_for_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "a_file").write_text("")
    code, _, err = run(capsys, "runs", "list", "--store", f"sqlite:///{tmp_path}/a_file/x.db")
    assert code == 1 and err.startswith("error: cannot open the SQLite store")
