"""A loom server on 127.0.0.1 (uvicorn, a free port) over a SQLite store, its
components written as files, LLM calls to loom's test LLM server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loom.server import ServerConfig, create_app
from loom.testing import FakeLlmServer, serve_asgi

from .helpers import (
    greeter,
    prop,
    slow_summary,
    summarizer,
    tool_flow,
    two_asks,
    write_configs,
)


class Release:
    """Slow tools wait on this; the test's end lets them go."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.started = threading.Event()
        self.finished: list[str] = []


@pytest.fixture
def llm() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        yield server


@pytest.fixture
def release() -> Iterator[Release]:
    gate = Release()
    yield gate
    gate.event.set()


@pytest.fixture
def configs(tmp_path: Path, llm: FakeLlmServer) -> Path:
    return write_configs(
        tmp_path / "configs", greeter=greeter(llm.url), summarizer=summarizer(llm.url),
        two_asks=two_asks(),
        slow=tool_flow("slow", "slow", inputs=[prop("x")], outputs=[prop("y")]),
        slow_summary=slow_summary(llm.url),
    )


def tools(release: Release) -> dict[str, Any]:
    def slow(x: str) -> str:
        release.started.set()
        release.event.wait(20)
        release.finished.append(x)
        return x

    return {"slow": slow}


@pytest.fixture
def make_server(tmp_path: Path, configs: Path, release: Release) -> Any:
    """``make_server(**config)``: a served app (stopped at the test's end)."""
    stack: list[Any] = []

    def make(**options: Any) -> httpx.Client:
        config = ServerConfig(directory=configs, tools=tools(release),
                              store_url=f"sqlite:///{tmp_path}/server.sqlite3", **options)
        served = serve_asgi(create_app(config=config), lifespan="on")
        url = served.__enter__()
        stack.append(served)
        client = httpx.Client(base_url=url, timeout=30)
        stack.append(client)
        return client

    yield make
    release.event.set()
    for item in reversed(stack):
        if isinstance(item, httpx.Client):
            item.close()
        else:
            item.__exit__(None, None, None)


@pytest.fixture
def client(make_server: Any) -> httpx.Client:
    made: httpx.Client = make_server()
    return made


def until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
