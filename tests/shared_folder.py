"""The one door to ``../shared`` (the conformance corpus beside the repository).

Outside CI a missing folder skips the tests that read it; under ``CI=true`` it
fails them, naming what is missing, as a missing PostgreSQL or Graphviz does:
otherwise hundreds of corpus tests would vanish from a green run.
``LOOM_SHARED_DIR`` points the tests at another copy (as it does bench/load.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

SHARED_DIR = Path(
    os.environ.get("LOOM_SHARED_DIR")
    or Path(__file__).resolve().parents[1].parent / "shared"
)
CONFORMANCE = SHARED_DIR / "conformance"
EXPECTATIONS_FILE = CONFORMANCE / "expectations.json"
# Marks the stand-in case of a test parametrized over files that are absent.
ABSENT_MARK = "shared_absent"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def require(path: Path = SHARED_DIR) -> Path:
    """``path`` (under ../shared) if it exists; else skip, or fail under CI=true."""
    if path.exists():
        return path
    message = (f"{path} is absent: the tests that read ../shared (the conformance corpus "
               "beside the repository) cannot run")
    if in_ci():
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)


def absent_case(path: Path) -> Any:
    """The one case of a parametrized test whose files are absent: it skips, or fails
    under CI=true (see the root conftest's ``pytest_runtest_setup``)."""
    return pytest.param(None, id="shared-absent", marks=pytest.mark.shared_absent(str(path)))
