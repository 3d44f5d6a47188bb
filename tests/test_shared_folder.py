"""Without ../shared the corpus tests skip, and under CI=true they fail, naming the
missing file (tests/shared_folder.py): they must never vanish from a green CI run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# One of each kind: a parametrized corpus test, a fixture user, an agent test.
SELECTION = [
    "serialization/test_conformance.py::test_load",
    "serialization/test_conformance.py::test_every_file_has_an_expectation",
    "agents/test_docs_examples.py::test_math_homework_agent",
]


def run_without_shared(tmp_path: Path, ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOM_SHARED_DIR": str(tmp_path / "missing"), "CI": ci}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         *(str(TESTS / case) for case in SELECTION)],
        cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.timeout(180)
def test_a_missing_shared_folder_skips_outside_ci(tmp_path: Path) -> None:
    done = run_without_shared(tmp_path, "")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 skipped" in done.stdout, done.stdout
    assert f"{tmp_path / 'missing'}" in done.stdout  # the skip reason names the folder


@pytest.mark.timeout(180)
def test_a_missing_shared_folder_fails_under_ci(tmp_path: Path) -> None:
    done = run_without_shared(tmp_path, "true")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "3 errors" in done.stdout, done.stdout
    missing = tmp_path / "missing"
    assert f"CI=true but {missing}/conformance/expectations.json is absent" in done.stdout
    assert f"CI=true but {missing}/conformance is absent" in done.stdout
    assert f"CI=true but {missing} is absent" in done.stdout
