"""Reading answers from outside (LLM servers, ApiNode, RemoteTool) within a size
limit and a deadline per attempt, settable in a component's ``metadata: {"loom": {...}}``."""

from __future__ import annotations

import asyncio
import codecs
import sys
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, TypeVar

import httpx

from loom._checks import check_settings
from loom.errors import ComponentRef

DEFAULT_DEADLINE = 600.0
"""Seconds for all of one attempt: an endless or dripping answer ends there."""
MAX_RESPONSE_BYTES = 4 << 20
MAX_STREAM_BYTES = 16 << 20
LIMITS = {"deadline": float, "max_response_bytes": int, "max_stream_bytes": int}
T = TypeVar("T")


async def within(seconds: float, work: Awaitable[T]) -> T:
    """``work`` or asyncio.TimeoutError after ``seconds`` (no task of its own on 3.11+)."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await work
    return await asyncio.wait_for(work, seconds)


def limits(metadata: Mapping[str, Any] | None, component: ComponentRef) -> dict[str, Any]:
    """The LIMITS set in ``metadata: {"loom": {...}}``, each a positive number."""
    found = check_settings(metadata, component, tuple(LIMITS))
    return {key: LIMITS[key](value) for key, value in found.items()}


def limit_hint(key: str, owner: str) -> str:
    """How to let a legitimate answer through."""
    return f'If the answer is legitimate, raise {key} in the {owner}\'s metadata {{"loom": {{...}}}}'


class TooLarge(Exception):
    """A body passed its size limit (``args[0]``: the bytes read)."""


async def body_chunks(
    response: httpx.Response, limit: int, cut: bool = False
) -> AsyncIterator[bytes]:
    """The decoded body; past ``limit`` bytes it stops (``cut``) or raises TooLarge."""
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            if cut:
                return
            raise TooLarge(size)
        yield chunk


async def read_body(response: httpx.Response, limit: int, cut: bool = False) -> str:
    parts = [chunk async for chunk in body_chunks(response, limit, cut)]
    return b"".join(parts).decode(response.encoding or "utf-8", "replace")


async def body_lines(response: httpx.Response, limit: int) -> AsyncIterator[str]:
    """The lines of a body (a line without end stops at ``limit`` too)."""
    decode = codecs.getincrementaldecoder("utf-8")("replace").decode
    pending: list[str] = []
    async for chunk in body_chunks(response, limit):
        pending.append(decode(chunk))
        if "\n" in pending[-1]:
            *lines, rest = "".join(pending).split("\n")
            pending = [rest]
            for line in lines:
                yield line.removesuffix("\r")
    if "".join(pending):
        yield "".join(pending).removesuffix("\r")
