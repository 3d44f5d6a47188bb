"""Run the fake LLM app on 127.0.0.1 with uvicorn, in a thread or in the foreground."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import uvicorn

from loom.testing.fake_app import create_app
from loom.testing.fake_state import Failure, FailureKind, FakeLlmState, RecordedRequest
from loom.testing.replies import Matcher, Reply

HOST = "127.0.0.1"
MAX_CONCURRENCY = 4096
"""Benchmarks drive ~1,000 concurrent flows; leave room above that."""
BACKLOG = 4096
STARTUP_TIMEOUT = 10.0


class FakeLlmServer:
    """A real OpenAI-compatible HTTP server with deterministic, scriptable answers.

    Unscripted answers are ``"fake answer to: "`` followed by the first 80
    characters of the last user message; structured-output requests get JSON
    generated from the schema (see :mod:`loom.testing.schema_fill`).

    ``record=False`` keeps no request history, for long benchmark runs.
    Starting it raises the process's soft open-files limit (see
    :func:`raise_open_file_limit`).

    >>> with FakeLlmServer() as srv:          # doctest: +SKIP
    ...     srv.url                           # 'http://127.0.0.1:PORT/v1'
    """

    def __init__(
        self,
        latency: float = 0.0,
        port: int = 0,
        *,
        models: Sequence[str] = ("fake-model",),
        max_concurrency: int = MAX_CONCURRENCY,
        record: bool = True,
    ) -> None:
        self._state = FakeLlmState(latency=latency, models=tuple(models), keep_records=record)
        self._requested_port = port
        self._max_concurrency = max_concurrency
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> FakeLlmServer:
        """Serve in a daemon thread; return once the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the fake LLM server is already running")
        raise_open_file_limit()
        self._state.stopping.clear()
        self._socket = bind_socket(self._requested_port)
        self._port = self._socket.getsockname()[1]
        self._server = make_uvicorn_server(self._state, self._max_concurrency)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"fake-llm-server:{self._port}",
            daemon=True,
        )
        self._thread.start()
        self._wait_until_serving()
        return self

    def stop(self) -> None:
        """Stop serving and join the thread; held (``timeout``) requests are released."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._state.stopping.set()
        server.should_exit = True
        thread.join(timeout=15)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> FakeLlmServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_serving(self) -> None:
        assert self._server is not None and self._thread is not None and self._port is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError(f"the fake LLM server on port {self._port} failed to start")
            if self._server.started and _accepts(self._port):
                return
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"the fake LLM server on port {self._port} did not start in time")

    # -- where ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the fake LLM server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no ``/v1``)."""
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, the usual OpenAI-compatible base URL."""
        return self.base_url + "/v1"

    # -- behaviour -----------------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds every request waits before answering (``X-Fake-Latency`` overrides)."""
        return self._state.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._state.latency = seconds

    def script(self, match: Matcher, reply: Reply, *, system: Matcher = None) -> None:
        """Answer ``reply`` when the last user message matches.

        ``match``: substring, compiled regex (searched), predicate on the
        text, or ``None`` for any. ``reply``: text, a dict (sent as JSON text),
        a list of tool calls / :class:`ToolCallsReply`, or a function of the
        request body returning one of those (of a Responses request, the chat
        body it amounts to: ``messages``, ``tools``, ``response_format``). ``system``, when given, must also
        match the system prompt (the same kinds of matcher): it tells agents apart.
        """
        self._state.add_rule(match, [reply], sequence=False, system=system)

    def script_sequence(
        self, replies: Sequence[Reply], match: Matcher = None, *, system: Matcher = None
    ) -> None:
        """Answer ``replies[k]`` on the k-th assistant turn of a matching conversation.

        k is the number of assistant messages already in the request, so an
        agent loop (tool call, tool result, final answer) gets the replies in
        order, and concurrent conversations do not interfere. ``system`` as in
        :meth:`script`.
        """
        self._state.add_rule(match, list(replies), sequence=True, system=system)

    def clear_scripts(self) -> None:
        self._state.clear_rules()

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        kind: FailureKind = "status",
        retry_after: float | str | None = None,
        interval: float = 0.05,
    ) -> None:
        """Make the next ``n`` requests fail (see :class:`Failure` for the kinds);
        ``retry_after`` (seconds or an HTTP date) is sent as ``Retry-After``;
        ``interval``: seconds between the pieces of ``keepalive`` and ``trickle``."""
        after = None if retry_after is None else str(retry_after)
        self._state.add_failures(n, Failure(kind, status, after, interval))

    def refuse_fields(self, *names: str) -> None:
        """Answer 400 to requests carrying any of these top-level fields (e.g.
        ``stream_options``), as OpenAI-compatible servers that predate them do."""
        self._state.refused_fields = frozenset(names)

    # -- what was received ---------------------------------------------------------

    @property
    def requests(self) -> list[Any]:
        """Bodies of the received requests (chat or Responses, as sent), decoded JSON
        (text if not JSON)."""
        return [entry.body for entry in self._state.records()]

    @property
    def recorded(self) -> list[RecordedRequest]:
        """Received requests with path, headers, status and start/end times."""
        return self._state.records()

    def clear_requests(self) -> None:
        self._state.clear_records()

    def reset(self) -> None:
        """Forget scripts, pending failures, refused fields and received requests;
        latency stays."""
        self._state.reset()


def bind_socket(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0 picks a free one).

    ``IPPROTO_TCP`` must be named: asyncio sets TCP_NODELAY only on sockets whose
    ``proto`` says TCP, and accepted sockets inherit it. With ``proto=0`` Nagle
    holds each response's body until the client's delayed ACK, ~40 ms later.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def make_uvicorn_server(
    state: FakeLlmState, max_concurrency: int = MAX_CONCURRENCY
) -> uvicorn.Server:
    """Quiet uvicorn (warnings only, no access log) sized for heavy fan-out."""
    config = uvicorn.Config(
        create_app(state),
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        limit_concurrency=max_concurrency,
        backlog=BACKLOG,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


def raise_open_file_limit(wanted: int = 65536) -> None:
    """Lift the soft open-files limit: 1,000 connections need 2,000 fds in one process."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False
