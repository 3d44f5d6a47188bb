"""A remote transport's ``retry_policy`` on its HTTP requests: recoverable statuses
and refused connections are retried with the policy's backoff, ``Retry-After``
honoured. A request that may have reached the server (a read timeout) is not
retried: it could be a tool call."""

from __future__ import annotations

from typing import Any

from loom.llm.retry import send_retrying
from loom.mcp.sdk import sdk
from loom.spec.retry_policy import RetryPolicy


def retrying(policy: RetryPolicy, verify: Any) -> Any:
    """An httpx2 transport that retries per ``policy`` around the default one."""
    httpx2 = sdk("httpx2")
    inner = httpx2.AsyncHTTPTransport(verify=verify, trust_env=False)

    class Retrying(httpx2.AsyncBaseTransport):  # type: ignore[misc,name-defined]
        async def handle_async_request(self, request: Any) -> Any:
            return await send_retrying(policy, lambda: inner.handle_async_request(request),
                                       httpx2.ConnectError)

        async def aclose(self) -> None:
            await inner.aclose()

    return Retrying()
