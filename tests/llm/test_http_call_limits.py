"""ApiNode and RemoteTool read answers within the same limits as LLM calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from loom.errors import SpecError
from loom.runtime import Runtime
from loom.spec import ApiNode, Flow, RemoteTool, StartNode, ToolNode
from loom.spec.flows import ControlFlowEdge
from loom.spec.nodes import EndNode, Node
from loom.testing import serve_asgi

LIMIT = 1 << 20
SOCKET_SLACK = 64 << 20
GUARD = 30.0


class Endless:
    """An API whose answers never end: fast (``/flood``, status in the path) or slow."""

    def __init__(self) -> None:
        self.sent = 0

    async def flood(self, request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b'{"value": "'
            while self.sent < 1 << 30:
                self.sent += 65536
                yield b"x" * 65536
                await asyncio.sleep(0)

        status = int(request.path_params["status"])
        return StreamingResponse(body(), status_code=status, media_type="application/json")

    async def drip(self, request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(100_000):
                yield b" "
                await asyncio.sleep(0.05)

        return StreamingResponse(body(), media_type="application/json")


@pytest.fixture
def api() -> Iterator[tuple[Endless, str]]:
    app = Endless()
    routes = [Route("/flood/{status}", app.flood), Route("/drip", app.drip)]
    with serve_asgi(Starlette(routes=routes)) as url:
        yield app, url


def flow_of(node: Node) -> Flow:
    start, end = StartNode(name="start"), EndNode(name="end")
    return Flow(
        name="main", start_node=start, nodes=[start, node, end],
        control_flow_connections=[
            ControlFlowEdge(name="e1", from_node=start, to_node=node),
            ControlFlowEdge(name="e2", from_node=node, to_node=end),
        ],
    )


def run(node: Node) -> tuple[str, float]:
    started = time.monotonic()
    result = Runtime().run(flow_of(node))
    assert result.status == "failed" and result.error is not None
    return result.error.message, time.monotonic() - started


def loom(**options: Any) -> dict[str, Any]:
    return {"loom": options}


def test_an_endless_api_answer_stops_at_max_response_bytes(api: tuple[Endless, str]) -> None:
    app, base = api
    node = ApiNode(name="get", http_method="GET", url=base + "/flood/200",
                   metadata=loom(max_response_bytes=LIMIT), retry_policy={"max_attempts": 2})
    message, took = run(node)
    assert f"GET {base}/flood/200 answered more than 1,048,576 bytes" in message
    assert 'raise max_response_bytes in the node\'s metadata {"loom": {...}}' in message
    assert took < GUARD
    time.sleep(0.2)
    assert app.sent <= LIMIT + SOCKET_SLACK  # and not retried: one flood only


def test_an_endless_error_answer_is_cut(api: tuple[Endless, str]) -> None:
    app, base = api
    node = ApiNode(name="get", http_method="GET", url=base + "/flood/400")
    message, took = run(node)
    assert "answered HTTP 400: {\"value\": \"xxx" in message
    assert took < GUARD
    time.sleep(0.2)
    assert app.sent <= LIMIT + SOCKET_SLACK


def test_a_dripping_remote_tool_ends_at_its_deadline(api: tuple[Endless, str]) -> None:
    _, base = api
    tool = RemoteTool(name="lookup", http_method="GET", url=base + "/drip",
                      metadata=loom(deadline=0.5), retry_policy={"max_attempts": 0})
    message, took = run(ToolNode(name="call", tool=tool))
    assert f"GET {base}/drip did not answer in full within 0.5 s" in message
    assert 'raise deadline (seconds) in the node\'s metadata' in message
    assert took < GUARD


def test_a_bad_limit_on_an_api_node_is_a_clear_error(api: tuple[Endless, str]) -> None:
    _, base = api
    with pytest.raises(SpecError, match="ApiNode 'get'.*loom.deadline must be a positive number"):
        ApiNode(name="get", http_method="GET", url=base + "/drip",  # refused when built
                metadata=loom(deadline="soon"))
