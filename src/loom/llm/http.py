"""One pooled ``httpx.AsyncClient`` per event loop, shared by every LLM call.

A shared client keeps connections alive between calls (an AsyncClient is bound
to its loop, hence one per loop). httpcore's pool does work quadratic in its
size per request, so one 1,000-connection pool crawls: the client spreads
requests over small pools (:class:`ShardedTransport`), made as first needed.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import weakref
from collections.abc import AsyncIterator

import httpx

SHARDS = 128
CONNECTIONS_PER_SHARD = 8
"""128 x 8 = 1,024 connections: room for about a thousand concurrent runs."""

KEEPALIVE_EXPIRY = 30.0

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


_tls_lock = threading.Lock()
_tls: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """The process's TLS context, made on first need: loading CAs takes ~35 ms."""
    global _tls
    with _tls_lock:
        if _tls is None:
            _tls = httpx.create_ssl_context()
        return _tls


class ShardedTransport(httpx.AsyncBaseTransport):
    """Several small connection pools; each request goes to the least busy one.

    Least-busy (not round-robin) keeps a sequential caller on one pool and so
    on one kept-alive connection, while a burst spreads evenly. Plain HTTP has
    pools of its own, which never load CAs.
    """

    def __init__(
        self, shards: int = SHARDS, connections_per_shard: int = CONNECTIONS_PER_SHARD
    ) -> None:
        # Keep-alive limit = connection limit: a lower one makes httpcore close
        # and reopen connections under load.
        self._limits = httpx.Limits(
            max_connections=connections_per_shard,
            max_keepalive_connections=connections_per_shard,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        count = max(1, shards)
        self._pools: dict[bool, list[httpx.AsyncHTTPTransport | None]] = {
            tls: [None] * count for tls in (False, True)
        }
        self._busy = {tls: [0] * count for tls in (False, True)}

    def _pool(self, tls: bool, index: int) -> httpx.AsyncHTTPTransport:
        pool = self._pools[tls][index]
        if pool is None:
            # Never used by plain HTTP; it would verify (and trust nobody).
            verify = tls_context() if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            pool = httpx.AsyncHTTPTransport(limits=self._limits, verify=verify)
            self._pools[tls][index] = pool
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        tls = request.url.scheme != "http"
        busy = self._busy[tls]
        index = busy.index(min(busy))
        pool = self._pool(tls, index)
        busy[index] += 1
        release = _Release(busy, index)
        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(response.stream, release),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pools in self._pools.values():
            for pool in pools:
                if pool is not None:
                    await pool.aclose()


class _Release:
    """Decrements a shard's busy count exactly once."""

    def __init__(self, busy: list[int], index: int) -> None:
        self._busy = busy
        self._index: int | None = index

    def __call__(self) -> None:
        if self._index is not None:
            self._busy[self._index] -= 1
            self._index = None


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that frees its shard when closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: _Release) -> None:
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._release()


def new_http_client() -> httpx.AsyncClient:
    """A client with loom's pooling; timeouts are set per request."""
    return httpx.AsyncClient(transport=ShardedTransport(), timeout=None, follow_redirects=False)


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


def transport_retryable(exc: Exception) -> bool:
    """A timeout or a refused/reset connection may pass; TLS or URL errors cannot."""
    if isinstance(exc, httpx.TimeoutException):
        return True
    if is_tls_error(exc):
        return False
    return isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError))


def is_tls_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return True
        text = str(current)
        if "CERTIFICATE_VERIFY_FAILED" in text or "[SSL" in text:
            return True
        current = current.__cause__ or current.__context__
    return False
