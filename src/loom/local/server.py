"""llama.cpp's OpenAI-compatible server as a subprocess that loom owns.

:class:`LocalLlm` starts llama.cpp's server (``python -m loom.local.serve``, which
runs ``llama_cpp.server`` with loom's chat format registered) on a free loopback
port with the packaged SmolLM2 weights, waits until it answers, and stops it
when the block ends: normally, on an error, or on Ctrl-C (the server runs in
a session of its own, so the terminal's Ctrl-C reaches loom, which stops it).
"""

from __future__ import annotations

import atexit
import collections
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

from loom.errors import LlmConnectionError
from loom.llm import LlmOverrides
from loom.local.weights import MODEL_NAME, check_server, model_file

TOOLS_CHAT_FORMAT = "loom-tools"
"""loom's own chat format (:mod:`loom.local.tools_format`, which the server process
registers): the model's template, tools and their results as text, calls parsed."""
DETERMINISTIC: dict[str, Any] = {"temperature": 0.7, "seed": 19, "max_tokens": 160}
"""Generation parameters laid over every config's: the same prompt gives the same text.
Chosen by trying seeds on the seed flow (examples/parallel_marketing) until SmolLM2-135M's
message greeted the user and named an item the tools returned; at temperature 0 it
does neither (tests/local checks the message)."""
STDERR_LINES = 60  # the tail kept for error messages
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalLlm:
    """The local model's server, running inside ``with LocalLlm() as llm:``.

    ``llm.url`` takes OpenAI-compatible requests; ``llm.overrides`` sends a
    Runtime's every LLM call there (``Runtime(llm=llm.overrides)``). ``chat_format``
    None uses the model's own chat template (tools are then answered as text);
    :data:`TOOLS_CHAT_FORMAT` also shows the model its tools and their results, and
    parses its calls. ``threads`` is 1: on these shared 2-core machines llama.cpp
    with 2 threads measured 2-10x slower under load.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        threads: int = 1,
        context: int = 2048,
        chat_format: str | None = None,
        startup_timeout: float = 180.0,
        python: str = sys.executable,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.model = Path(model) if model is not None else None
        self.threads = threads
        self.context = context
        self.chat_format = chat_format
        self.startup_timeout = startup_timeout
        self.python = python
        self.params = dict(DETERMINISTIC if params is None else params)
        self.port = 0
        self.server_version = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._drain: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def overrides(self) -> LlmOverrides:
        return LlmOverrides(url=self.url, model=MODEL_NAME, params=self.params)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def describe(self) -> str:
        """Which model answers, for banners."""
        return (f"{MODEL_NAME} (Q4_1 GGUF, Apache-2.0) on llama-cpp-python "
                f"{self.server_version} at {self.url}")

    def command(self) -> list[str]:
        model = self.model or model_file()
        command = [self.python, "-m", "loom.local.serve", "--model", str(model),
                   "--model_alias", MODEL_NAME, "--host", "127.0.0.1", "--port", str(self.port),
                   "--n_threads", str(self.threads), "--n_ctx", str(self.context)]
        if self.chat_format:
            command += ["--chat_format", self.chat_format]
        return command

    def start(self) -> LocalLlm:
        """Start the server and wait until it answers; LlmConnectionError (with the
        server's last stderr lines) if it exits or stays silent past ``startup_timeout``."""
        if self._process is not None:
            raise RuntimeError("this LocalLlm is already started")
        self.server_version = check_server()
        self.port = free_port()
        command = self.command()
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True,
        )
        atexit.register(self.stop)
        assert self._process.stderr is not None
        self._drain = threading.Thread(target=self._read_stderr, args=(self._process.stderr,),
                                       name="loom-local-llm-stderr", daemon=True)
        self._drain.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and reap it; idempotent."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._drain is not None:
            self._drain.join(timeout=5)
            self._drain = None

    def stderr_tail(self) -> str:
        return "".join(self._stderr).strip()

    def __enter__(self) -> LocalLlm:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _read_stderr(self, stream: IO[bytes]) -> None:
        with stream:
            for line in stream:
                self._stderr.append(line.decode("utf-8", "replace"))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                assert self._process is not None
                code = self._process.poll()
                if code is not None:
                    raise self._failed(f"the server exited with code {code} before answering")
                try:
                    if client.get(f"{self.url}/models").is_success:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise self._failed(f"the server did not answer within "
                                       f"{self.startup_timeout:g} s")
                time.sleep(0.2)

    def _failed(self, detail: str) -> LlmConnectionError:
        tail = self.stderr_tail()
        if self._drain is not None and self._process is not None and self._process.poll() is not None:
            self._drain.join(timeout=2)
            tail = self.stderr_tail()
        return LlmConnectionError(
            url=self.url, model=MODEL_NAME, retryable=False,
            detail=f"{detail} (loom.local.serve --model {self.model or model_file()})",
            hint="its stderr ends with:\n" + (tail[-3000:] or "(nothing)"),
        )
