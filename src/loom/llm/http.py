"""One pooled ``httpx.AsyncClient`` per event loop, shared by every LLM call.

Many concurrent flow runs talk to the same server; sharing a client keeps
connections alive between calls instead of paying a TCP handshake per call.
An ``AsyncClient`` is bound to the loop it first ran on, hence one per loop.
"""

from __future__ import annotations

import asyncio
import weakref

import httpx

POOL_LIMITS = httpx.Limits(
    max_connections=1024,
    max_keepalive_connections=256,
    keepalive_expiry=30.0,
)
"""Sized for about a thousand concurrent runs against one server."""

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def new_http_client() -> httpx.AsyncClient:
    """A client with loom's pool limits; timeouts are set per request."""
    return httpx.AsyncClient(limits=POOL_LIMITS, timeout=None, follow_redirects=False)


def shared_http_client() -> httpx.AsyncClient:
    """The running loop's shared client, created on first use."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = new_http_client()
        _clients[loop] = client
    return client


async def aclose_shared_http_client() -> None:
    """Close the running loop's shared client (call before the loop ends)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()
