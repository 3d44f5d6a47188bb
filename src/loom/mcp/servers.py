"""How loom reaches an MCP server: one transport of the spec -> the SDK's client streams."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from loom.mcp.http_retry import retrying
from loom.mcp.sdk import sdk
from loom.spec.retry_policy import RetryPolicy
from loom.spec.transports import (
    ClientTransport,
    RemoteTransport,
    SSEmTLSTransport,
    SSETransport,
    StdioTransport,
    StreamableHTTPmTLSTransport,
    StreamableHTTPTransport,
)

HTTP_TIMEOUT = 30.0  # seconds per HTTP request, unless the transport's retry_policy says
SSE_READ_TIMEOUT = 300.0  # an open event stream may stay quiet this long


def label(transport: ClientTransport) -> str:
    """The server as errors name it: ``'time' (StdioTransport: uvx mcp-server-time)``."""
    if isinstance(transport, StdioTransport):
        where = " ".join([transport.command, *transport.args])
    elif isinstance(transport, RemoteTransport):
        where = transport.url
    else:
        where = "?"
    return f"MCP server '{transport.name}' ({transport.component_type}: {where})"


def server_key(transport: ClientTransport) -> str:
    """Transports that reach the same server in the same way share one session."""
    config = {k: v for k, v in transport.model_dump().items()
              if k not in ("id", "name", "description", "metadata")}
    return transport.component_type + json.dumps(config, sort_keys=True, default=str)


def http_timeout(transport: RemoteTransport) -> float:
    policy = transport.retry_policy or {}
    timeout = policy.get("request_timeout")
    return float(timeout) if timeout is not None else HTTP_TIMEOUT


def _headers(transport: RemoteTransport) -> dict[str, str]:
    return {**(transport.headers or {}), **(transport.sensitive_headers or {})}


def _tls(transport: SSEmTLSTransport | StreamableHTTPmTLSTransport) -> ssl.SSLContext:
    """Trust only the transport's CA; present its client certificate."""
    context = ssl.create_default_context(cafile=transport.ca_file)
    context.load_cert_chain(transport.cert_file, transport.key_file)
    return context


def _client_factory(transport: RemoteTransport) -> Any:
    """An httpx2 client factory for the SDK's clients, with the transport's TLS and
    HTTP retries."""
    httpx2 = sdk("httpx2")
    verify: Any = True
    if isinstance(transport, (SSEmTLSTransport, StreamableHTTPmTLSTransport)):
        verify = _tls(transport)

    options: dict[str, Any] = {"verify": verify}
    if transport.retry_policy is not None:
        options = {"transport": retrying(RetryPolicy.from_dict(transport.retry_policy), verify)}

    def make(headers: dict[str, str] | None = None, timeout: Any = None,
             auth: Any = None) -> Any:
        return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, trust_env=False,
                                  **options)

    return make


@asynccontextmanager
async def connect(transport: ClientTransport) -> AsyncIterator[tuple[Any, Any]]:
    """The (read, write) streams of a new connection to the server."""
    if isinstance(transport, RemoteTransport) and transport.auth is not None:
        raise NotImplementedError(
            f"{transport.auth.component_type} authentication of MCP transports is not "
            "supported yet; put a token in sensitive_headers instead"
        )
    if isinstance(transport, StdioTransport):
        mcp = sdk()
        params = mcp.StdioServerParameters(command=transport.command, args=transport.args,
                                           env=transport.env, cwd=transport.cwd)
        async with mcp.stdio_client(params) as streams:
            yield streams[0], streams[1]
    elif isinstance(transport, SSETransport):
        sse = sdk("mcp.client.sse")
        async with sse.sse_client(
            transport.url, headers=_headers(transport), timeout=http_timeout(transport),
            sse_read_timeout=SSE_READ_TIMEOUT, httpx_client_factory=_client_factory(transport),
        ) as streams:
            yield streams[0], streams[1]
    elif isinstance(transport, StreamableHTTPTransport):
        http = sdk("mcp.client.streamable_http")
        httpx2 = sdk("httpx2")
        make = _client_factory(transport)
        client = make(headers=_headers(transport),
                      timeout=httpx2.Timeout(http_timeout(transport), read=SSE_READ_TIMEOUT))
        async with client, http.streamable_http_client(transport.url, http_client=client) as s:
            yield s[0], s[1]
    else:
        raise NotImplementedError(f"{transport.component_type} is not an MCP transport loom "
                                  "knows")
