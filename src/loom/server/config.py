"""What a server is started with: the components directory, the runtime's
tools and registry, the store, the tokens and the limits."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from loom.errors import LoomError

TOKENS_ENV = "LOOM_SERVER_TOKENS"
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_RUNS_PER_TOKEN = 256
HEARTBEAT_SECONDS = 15.0
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ServerConfig:
    """Everything :func:`loom.server.create_app` needs; ``tokens`` empty means no auth
    (allowed only on a loopback address, which :func:`check_bind` enforces)."""

    directory: Path | None = None
    tools: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    registry: Mapping[str, Any] = field(default_factory=dict)
    store_url: str | None = None  # None: default_server_store()
    tokens: Sequence[str] = ()
    max_body: int = DEFAULT_MAX_BODY
    runs_per_token: int = DEFAULT_RUNS_PER_TOKEN
    checkpoint: Literal["waits", "nodes"] = "waits"
    heartbeat: float = HEARTBEAT_SECONDS
    drain_seconds: float = 30.0
    llm_url: str | None = None
    llm_model: str | None = None
    max_concurrency: int = 1024
    inline_tools: bool = False
    events_kept: int = 10_000  # per run, in the store (LLM tokens are never stored)
    # The load policy of the configs served (StdioTransport stays blocked unless allowed).
    allowed_components: Sequence[str] = ()
    blocked_components: Sequence[str] = ()
    # temporal://HOST:PORT/NS: the runs live in Temporal, run by the workers of task_queue.
    backend: str | None = None
    task_queue: str = "loom"
    claim_check: str | None = None  # with a backend: where values over 256 KiB go


def default_server_store() -> str:
    """``$LOOM_STORE``, else ``sqlite:///$XDG_DATA_HOME/loom/server.sqlite3``: apart
    from the CLI's runs, so the server lists only its own."""
    configured = os.environ.get("LOOM_STORE")
    if configured:
        return configured
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return "sqlite:///" + str(Path(base) / "loom" / "server.sqlite3")


def read_tokens(token_file: str | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """Tokens from ``--token-file`` (one a line, ``#`` comments) and ``LOOM_SERVER_TOKENS``
    (comma-separated)."""
    env = os.environ if environ is None else environ
    tokens = [t.strip() for t in env.get(TOKENS_ENV, "").split(",") if t.strip()]
    if token_file:
        try:
            text = Path(token_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise LoomError(f"cannot read the token file {token_file}: "
                              f"{exc.strerror or exc}") from None
        tokens += [line.strip() for line in text.splitlines()
                   if line.strip() and not line.lstrip().startswith("#")]
        if not tokens:
            raise LoomError(f"the token file {token_file} holds no token",
                              hint="write one token per line")
    return tokens


def check_bind(host: str, tokens: Sequence[str]) -> None:
    """Refuse to serve a non-loopback address without a token."""
    if not tokens and host not in LOOPBACK and not host.startswith("127."):
        raise LoomError(
            f"refusing to serve {host} without a token: anyone who reaches it could run "
            "every component",
            hint=f"give --token-file FILE or set {TOKENS_ENV}, or bind 127.0.0.1",
        )
