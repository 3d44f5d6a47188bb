"""The local server's failures: it cannot start, it is not running, it dies mid-stream.
Each ends in an LlmError that says what happened, and no server process is left."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import loom
from loom.errors import LlmConnectionError, LlmError
from loom.llm import LlmClient, LlmEndpoint
from loom.local import MODEL_NAME, LocalLlm
from loom.local.server import free_port

from .conftest import need_local_model
from .test_local_model import greeting

pytestmark = pytest.mark.timeout(600)


def gone(pid: int | None) -> bool:
    assert pid is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def exited(pid: int) -> bool:
    """Gone, or a zombie whose new parent (not this process) has yet to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return gone(pid)
    return state in ("Z", "X")


def test_the_server_exits_when_the_process_that_started_it_is_killed() -> None:
    need_local_model()
    owner_script = ("import time\nfrom loom.local import LocalLlm\n"
                    "print(LocalLlm().start().pid, flush=True)\ntime.sleep(600)\n")
    owner = subprocess.Popen([sys.executable, "-c", owner_script], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert owner.stdout is not None
        pid = int(owner.stdout.readline())
    finally:
        owner.kill()  # SIGKILL: LocalLlm cannot stop the server itself
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
    deadline = time.monotonic() + 30
    while not exited(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not exited(pid):
        os.kill(pid, signal.SIGKILL)  # never leave it running
        pytest.fail("the server outlived the process that started it")


def test_a_server_that_cannot_start_fails_with_its_stderr(tmp_path: Path) -> None:
    need_local_model()
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"not a GGUF file")
    llm = LocalLlm(model=bogus)
    with pytest.raises(LlmConnectionError) as caught:
        llm.start()
    text = str(caught.value)
    assert "exited with code" in text
    assert "not-a-model.gguf" in text  # the server's own words, from its stderr
    assert not llm.running


def test_a_server_that_does_not_answer_in_time_is_stopped(tmp_path: Path) -> None:
    need_local_model()
    llm = LocalLlm(startup_timeout=0.05)
    with pytest.raises(LlmConnectionError, match="did not answer within 0.05 s"):
        llm.start()
    assert not llm.running and llm.pid is None


def test_an_llm_node_fails_naming_the_url_when_the_server_is_not_running() -> None:
    stopped = LocalLlm()
    stopped.port = free_port()  # nothing listens there
    flow = greeting(stopped)
    with loom.Runtime(use_env=False) as runtime:
        result = runtime.run(flow, {"name": "Alice"})
    assert result.status == "failed"
    assert result.error is not None
    assert "main > greet" in str(result.error.node)
    assert stopped.url.removesuffix("/v1") in result.error.message


async def test_a_server_killed_mid_stream_fails_the_call() -> None:
    need_local_model()
    with LocalLlm() as llm:
        endpoint = LlmEndpoint(url=llm.url, model=MODEL_NAME,
                               generation_params={"max_tokens": 400, "temperature": 0.0})
        client = LlmClient(endpoint)
        tokens: list[str] = []
        pid = llm.pid
        assert pid is not None

        def on_token(text: str) -> None:
            tokens.append(text)
            if len(tokens) == 3:
                os.kill(pid, signal.SIGKILL)

        messages = [{"role": "user", "content": "Write a long story about a lighthouse."}]
        with pytest.raises(LlmError) as caught:
            await asyncio.wait_for(client.generate(messages, stream=True, on_token=on_token), 300)
        assert len(tokens) >= 3  # it failed after streaming, and was not retried
        assert llm.url.removesuffix("/v1") in str(caught.value)
    assert gone(pid)
