"""Calling one MCP tool, and listing a server's tools, inside a run.

Every failure (the server missing or dying, the tool absent, the tool's own
error, no answer in time) becomes an :class:`McpToolError` that names the
caller (node or agent), the tool and the server. ``retry_policy`` retries
them with its backoff (its attempt and delay fields; HTTP statuses are the
transport's business).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from loom.mcp.sdk import sdk
from loom.mcp.sessions import ServerUnavailable, Session, Sessions
from loom.spec.retry_policy import RetryPolicy
from loom.spec.transports import ClientTransport

CONNECTION_CLOSED = -32000  # JSON-RPC codes of the SDK's own errors
REQUEST_TIMEOUT = -32001
T = TypeVar("T")


class McpToolError(Exception):
    """An MCP tool could not be called, or its call failed; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


async def call_tool(
    sessions: Sessions,
    transport: ClientTransport,
    tool: str,
    arguments: dict[str, Any],
    who: str,
    retry_policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Call ``tool`` on the session with the server among ``sessions`` (the run's,
    or an activity's): ``{"structured": the structured content or None, "text":
    the content as text}``."""

    async def attempt() -> dict[str, Any]:
        session = await _session(sessions, transport, who, tool)
        tools = await _listing(session, who, tool)
        if tool not in tools:
            raise McpToolError(
                f"{who}: {session.label} has no tool '{tool}' (it has {sorted(tools)})",
                hint="check the tool's name against the server's tools",
            )
        result = await _request(session, who, tool,
                                lambda: session.client.call_tool(tool, arguments))
        text = content_text(result.content)
        if result.is_error:
            raise McpToolError(f"{who}: tool '{tool}' on {session.label} failed: {text}")
        return {"structured": result.structured_content, "text": text}

    return await _retried(retry_policy, attempt)


async def list_tools(
    sessions: Sessions, transport: ClientTransport, who: str,
    retry_policy: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The server's tools as plain data: name, description, input schema."""

    async def attempt() -> list[dict[str, Any]]:
        session = await _session(sessions, transport, who, None)
        tools = await _listing(session, who, None)
        return [
            {"name": t.name, "description": t.description or "",
             "input_schema": dict(t.input_schema or {"type": "object"})}
            for t in tools.values()
        ]

    return await _retried(retry_policy, attempt)


def content_text(content: list[Any]) -> str:
    """The text blocks of a result, one per line; other blocks described briefly."""
    parts = []
    for block in content or []:
        kind = getattr(block, "type", "?")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {getattr(block, 'mime_type', '')}]")
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
        elif kind == "resource":
            inner = block.resource
            parts.append(getattr(inner, "text", None) or f"[resource {inner.uri}]")
        else:
            parts.append(f"[{kind}]")
    return "\n".join(parts)


async def _session(sessions: Sessions, transport: ClientTransport, who: str,
                   tool: str | None) -> Session:
    try:
        return await sessions.get(transport)
    except ServerUnavailable as exc:
        what = f" for tool '{tool}'" if tool else ""
        raise McpToolError(f"{who}{what}: {exc}", hint=_hint(transport)) from exc


async def _listing(session: Session, who: str, tool: str | None) -> dict[str, Any]:
    """The server's tools, listed once per session (every page)."""
    if session.tools is None:
        found: dict[str, Any] = {}
        cursor = None
        while True:
            params = None if cursor is None else sdk().types.PaginatedRequestParams(cursor=cursor)
            page = await _request(session, who, tool or "tools/list",
                                  functools.partial(session.client.list_tools, params=params))
            found.update({t.name: t for t in page.tools})
            cursor = page.next_cursor
            if not cursor:
                break
        session.tools = found
    return session.tools


async def _request(
    session: Session, who: str, tool: str, send: Callable[[], Awaitable[T]]
) -> T:
    seconds = session.transport.read_timeout_seconds
    try:
        return await asyncio.wait_for(send(), seconds)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        code = getattr(exc, "code", None)
        if code == REQUEST_TIMEOUT or isinstance(exc, asyncio.TimeoutError):
            raise McpToolError(
                f"{who}: tool '{tool}' on {session.label} did not answer within {seconds:g} s",
                hint="raise session_parameters.read_timeout_seconds of the transport",
            ) from exc
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        if code == CONNECTION_CLOSED or not isinstance(code, int):
            session.broken()  # the next call opens a new session
            detail = f"the connection was lost ({detail}); did the server exit?"
        raise McpToolError(f"{who}: calling tool '{tool}' on {session.label} failed: {detail}",
                           hint=_hint(session.transport)) from exc


async def _retried(retry_policy: dict[str, Any] | None,
                   attempt: Callable[[], Awaitable[T]]) -> T:
    if retry_policy is None:
        return await attempt()
    policy = RetryPolicy.from_dict(retry_policy)
    for index in range(policy.max_attempts + 1):
        try:
            return await attempt()
        except McpToolError:
            if index >= policy.max_attempts:
                raise
        await asyncio.sleep(policy.delay(index))
    raise AssertionError("unreachable")


def _hint(transport: ClientTransport) -> str:
    if transport.component_type == "StdioTransport":
        return "check that the command starts an MCP server on this machine"
    return "check that the server runs and its URL, headers and certificates"
