"""One fake LLM server per test module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loom.testing import FakeLlmServer


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        yield server


@pytest.fixture
def srv(llm_server: FakeLlmServer) -> Iterator[FakeLlmServer]:
    llm_server.reset()
    llm_server.latency = 0.0
    yield llm_server
    llm_server.reset()
    llm_server.latency = 0.0
