"""Fixtures of the MCP tests: the call log of the test server, the fake LLM server."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.conftest import fake_llm as fake_llm  # fixtures, re-exported
from agents.conftest import llm_server as llm_server
from runtime.conftest import _close_runtimes as _close_runtimes


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """Where the test server writes one line per session start and per call."""
    return tmp_path / "server.log"
