"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

# /work/main/tests/conftest.py -> /work/shared (the corpus, spec and bench configs
# that live beside the repository, not inside it).
SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared folder beside the repository (conformance corpus, bench configs)."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared folder {SHARED_DIR} is absent (it lives beside the repository)")
    return SHARED_DIR
