"""An MCP server built with the ``mcp`` SDK, for the cases real servers do not offer.

    python own_server.py LOG stdio
    python own_server.py LOG sse|http PORT [CERT KEY CA]   (with CERT..: mutual TLS)

Every session start (a process, for stdio) and every call is appended to LOG,
one line each, so tests count them on the server's side; over HTTP, so is every
session's end and every ``x-loom-secret`` header.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

LOG = Path(sys.argv[1])
server = MCPServer("loom-test", log_level="CRITICAL")  # no rich tracebacks: quiet and quick


def log(line: str) -> None:
    with LOG.open("a") as out:
        out.write(line + "\n")


@server.tool()
def count(label: str, ctx: Context) -> str:
    """Record a call, and the session it came in, and say so."""
    log(f"call {label}")
    log(f"session {session_of(ctx)}")
    return f"counted {label}"


def session_of(ctx: Context) -> str:
    """The client's session: its id over HTTP (header or query), the process over stdio."""
    request = ctx.request_context.request
    if request is None:
        return f"pid {os.getpid()}"
    return request.headers.get("mcp-session-id") or str(request.query_params)


@server.tool()
def add(a: int, b: int) -> int:
    """The sum of two integers (structured content {"result": n})."""
    log(f"call add {a} {b}")
    return a + b


@server.tool()
def fail(reason: str) -> str:
    """Raise an error with the reason (a ToolError: the SDK passes its text on)."""
    log("call fail")
    raise ToolError(reason)


@server.tool()
def die() -> str:
    """Exit the server in the middle of the call."""
    log("call die")
    os._exit(3)


@server.tool()
async def slow(seconds: float) -> str:
    """Answer after some seconds."""
    log("call slow")
    await asyncio.sleep(seconds)
    return "slept"


@server.tool()
def flaky(label: str) -> str:
    """Fail the first two calls of a label, then succeed."""
    done = LOG.read_text().count(f"call flaky {label}\n") if LOG.exists() else 0
    log(f"call flaky {label}")
    if done < 2:
        raise RuntimeError(f"not yet ({done + 1})")
    return f"third time {label}"


@server.tool()
def headers(ctx: Context) -> dict[str, str]:
    """The HTTP headers of the call whose name starts with x-."""
    seen = ctx.headers or {}
    return {k: v for k, v in seen.items() if k.lower().startswith("x-")}


REFUSED: dict[bytes, int] = {}


def busy_at_first(app: Any) -> Any:
    """Answer 503 to the first two requests carrying the same ``x-busy-first`` header."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        label = dict(scope.get("headers") or []).get(b"x-busy-first")
        if scope["type"] == "http" and label and REFUSED.get(label, 0) < 2:
            REFUSED[label] = REFUSED.get(label, 0) + 1
            log(f"busy {label.decode()}")
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"retry-after", b"0")]})
            await send({"type": "http.response.body", "body": b"busy"})
            return
        await app(scope, receive, send)

    return wrapped


def logs_ends_and_secrets(app: Any) -> Any:
    """Log ``end SESSION`` when a client closes its session (streamable HTTP's DELETE),
    and ``secret VALUE`` for a request carrying an ``x-loom-secret`` header."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if scope["method"] == "DELETE":
                log(f"end {headers.get(b'mcp-session-id', b'?').decode()}")
            if b"x-loom-secret" in headers:
                log(f"secret {headers[b'x-loom-secret'].decode()}")
        await app(scope, receive, send)

    return wrapped


def main() -> None:
    mode = sys.argv[2]
    if mode == "stdio":
        log(f"start {os.getpid()}")
        server.run()
        return
    import uvicorn

    port = int(sys.argv[3])
    app = server.sse_app() if mode == "sse" else server.streamable_http_app()
    tls = {}
    if len(sys.argv) > 4:
        cert, key, ca = sys.argv[4:7]
        tls = {"ssl_certfile": cert, "ssl_keyfile": key, "ssl_ca_certs": ca,
               "ssl_cert_reqs": ssl.CERT_REQUIRED}
    log(f"start {os.getpid()}")
    uvicorn.run(logs_ends_and_secrets(busy_at_first(app)), host="127.0.0.1", port=port, log_level="warning", **tls)


if __name__ == "__main__":
    main()
