"""The shared HTTP client's transport: pools made on demand, CAs loaded only for TLS."""

from __future__ import annotations

import ssl

import httpx
import pytest

from loom.llm import http
from loom.testing import FakeLlmServer


async def test_pools_are_made_on_first_use_and_plain_http_loads_no_cas(
    srv: FakeLlmServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_tls() -> ssl.SSLContext:
        raise AssertionError("a plain-HTTP request loaded the CA certificates")

    monkeypatch.setattr(http, "tls_context", no_tls)
    transport = http.ShardedTransport(shards=4, connections_per_shard=2)
    async with httpx.AsyncClient(transport=transport) as client:
        assert all(pool is None for pools in transport._pools.values() for pool in pools)
        for _ in range(3):
            assert (await client.get(srv.url + "/models")).status_code == 200
        made = [pool for pools in transport._pools.values() for pool in pools if pool]
        assert len(made) == 1  # sequential calls stay on one pool (one connection)
    assert len({r.peer for r in srv.recorded}) <= 1


async def test_https_pools_share_one_verifying_context() -> None:
    transport = http.ShardedTransport(shards=2)
    first = transport._pool(True, 0)
    second = transport._pool(True, 1)
    assert first is transport._pool(True, 0)
    context = http.tls_context()
    assert context is http.tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    for pool in (first, second):
        assert pool._pool._ssl_context is context
    await transport.aclose()


def test_the_plain_pools_context_verifies_too() -> None:
    # It is never used for TLS; were it ever, it would refuse every certificate.
    pool = http.ShardedTransport(shards=1)._pool(False, 0)
    context = pool._pool._ssl_context
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
