"""The one retry loop, for LLM calls, ApiNode and RemoteTool; the policy is
:class:`loom.spec.retry_policy.RetryPolicy`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

from loom.spec.retry_policy import RetryPolicy

T = TypeVar("T")


class Response(Protocol):
    """What :func:`send_retrying` reads of an HTTP response (httpx's, or httpx2's)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    async def aclose(self) -> None: ...


R = TypeVar("R", bound=Response)


@dataclass(frozen=True)
class Failure:
    """A failed attempt: HTTP status and body (no status: timeout or connection
    error, retried when ``retryable``), and the server's ``Retry-After``."""

    status: int | None = None
    body: str = ""
    retry_after: float | None = None
    retryable: bool = True


async def retrying(
    policy: RetryPolicy,
    attempt: Callable[[], Awaitable[T]],
    judge: Callable[[Exception], Failure | None],
    gave_up: Callable[[Exception, int], None] | None = None,
) -> T:
    """Call ``attempt`` until it succeeds or the policy says stop. ``judge``
    returns ``None`` for an exception that is never retried; ``gave_up(exc,
    attempts)`` runs before the last exception propagates."""
    retry_index = 0
    while True:
        try:
            return await attempt()
        except Exception as exc:
            failure = judge(exc)
            if failure is None or retry_index >= policy.max_attempts or not _worth(policy, failure):
                if gave_up is not None:
                    gave_up(exc, retry_index + 1)
                raise
            await asyncio.sleep(policy.wait(retry_index, failure.status, failure.retry_after))
            retry_index += 1


async def send_retrying(policy: RetryPolicy, send: Callable[[], Awaitable[R]],
                        refused: type[Exception]) -> R:
    """One request of an HTTP transport under ``policy``: a refused connection
    (``refused``) and recoverable statuses are retried with its backoff, ``Retry-After``
    honoured. A request that may have reached the server (a read timeout) is not."""
    index = 0
    while True:
        last = index >= policy.max_attempts
        try:
            response = await send()
        except refused:
            if last:
                raise
            await asyncio.sleep(policy.wait(index))
            index += 1
            continue
        status = response.status_code
        if last or status < 400 or not policy.is_recoverable_status(status):
            return response
        wait = policy.wait(index, status, retry_after(response.headers))
        await response.aclose()
        await asyncio.sleep(wait)
        index += 1


def _worth(policy: RetryPolicy, failure: Failure) -> bool:
    if failure.status is None:
        return failure.retryable
    return policy.is_recoverable_status(failure.status, failure.body)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a ``Retry-After`` header asks for (``120`` or an HTTP date)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


__all__ = ["Failure", "RetryPolicy", "retry_after", "retrying", "send_retrying"]
