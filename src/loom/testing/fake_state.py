"""What the fake LLM server remembers: scripts, pending failures, requests.

Tests change it from their own thread while the server's event loop reads
it, so every access goes through one lock.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from loom.testing.answers import choose_answer
from loom.testing.replies import Answer, Matcher, Reply, ScriptRule

FailureKind = Literal[
    "status", "timeout", "malformed", "bad_sse", "endless_json", "endless_sse", "keepalive",
    "trickle",
]
FAILURE_KINDS: tuple[str, ...] = get_args(FailureKind)


@dataclass(frozen=True)
class Failure:
    """An injected failure.

    ``status``: answer with that HTTP status and an OpenAI-style error body.
    ``timeout``: hold the request until the client gives up (or an hour).
    ``malformed``: 200 with a body that is not JSON.
    ``bad_sse``: 200 ``text/event-stream`` whose event is not JSON.
    ``endless_json``: 200 with a JSON body that never ends (64 KiB pieces).
    ``endless_sse``: 200 ``text/event-stream`` of valid chunks without end.
    ``keepalive``: 200 ``text/event-stream`` of ``: keep-alive`` comments only,
    one per ``interval`` seconds.
    ``trickle``: 200 with a JSON body of one byte per ``interval`` seconds, without end.
    ``retry_after``, with ``status``: the ``Retry-After`` header to send.

    The endless kinds stop when the client goes away or the server stops;
    :attr:`RecordedRequest.sent` counts the body bytes they sent.
    """

    kind: FailureKind = "status"
    status: int = 500
    retry_after: str | None = None
    interval: float = 0.05

    @classmethod
    def parse(cls, value: str) -> Failure:
        """Read an ``X-Fake-Fail`` header: a status code or a kind name."""
        value = value.strip().lower()
        if value.isdigit():
            return cls("status", int(value))
        if value not in FAILURE_KINDS:
            raise ValueError(f"X-Fake-Fail must be a status or one of {FAILURE_KINDS}")
        return cls(value)  # type: ignore[arg-type]


@dataclass
class RecordedRequest:
    """One received request; times are ``time.monotonic()`` seconds.

    ``peer`` is the client's ``host:port``, which shows connection reuse;
    ``sent``, the body bytes an endless failure wrote.
    """

    path: str
    body: Any
    headers: dict[str, str]
    started: float
    peer: str | None = None
    ended: float | None = None
    status: int | None = None
    sent: int = 0

    def finish(self, status: int) -> None:
        self.status = status
        self.ended = time.monotonic()


@dataclass
class FakeLlmState:
    """Shared, lock-protected state behind one fake server."""

    latency: float = 0.0
    models: tuple[str, ...] = ("fake-model",)
    keep_records: bool = True
    stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rules: list[ScriptRule] = field(default_factory=list)
    _failures: deque[Failure] = field(default_factory=deque)
    _records: list[RecordedRequest] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # Top-level request fields answered with 400, as servers that predate them do.
    refused_fields: frozenset[str] = frozenset()

    def add_rule(
        self,
        matcher: Matcher,
        replies: Sequence[Reply],
        *,
        sequence: bool,
        system: Matcher = None,
    ) -> None:
        if not replies:
            raise ValueError("a script needs at least one reply")
        with self._lock:
            self._rules.append(ScriptRule(matcher, tuple(replies), sequence, system))

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    def add_failures(self, count: int, failure: Failure) -> None:
        with self._lock:
            self._failures.extend([failure] * count)

    def take_failure(self) -> Failure | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def record(
        self, path: str, body: Any, headers: Mapping[str, str], peer: str | None = None
    ) -> RecordedRequest:
        entry = RecordedRequest(path, body, dict(headers), time.monotonic(), peer)
        if self.keep_records:
            with self._lock:
                self._records.append(entry)
        return entry

    def records(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._records)

    def clear_records(self) -> None:
        with self._lock:
            self._records.clear()

    def reset(self) -> None:
        """Forget scripts, pending failures, refused fields and recorded requests."""
        with self._lock:
            self._rules.clear()
            self._failures.clear()
            self._records.clear()
            self.refused_fields = frozenset()

    def next_id(self, prefix: str = "chatcmpl-fake-") -> str:
        with self._lock:
            return f"{prefix}{next(self._ids)}"

    def answer(self, body: Mapping[str, Any]) -> Answer:
        with self._lock:
            rules = list(self._rules)
        return choose_answer(body, rules)
