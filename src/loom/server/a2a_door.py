"""The A2A door: every served component is an A2A agent at ``/a2a/{id}``, its
card at ``/a2a/{id}/.well-known/agent-card.json`` (``loom[a2a]``; without
a2a-sdk these routes answer 501 saying what to install)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from loom._optional import require
from loom.errors import MissingDependency
from loom.server.api import manager_of, served_of
from loom.server.http import Json
from loom.server.problems import ApiError

CARD_PATH = "/.well-known/agent-card.json"


def routes() -> list[BaseRoute]:
    try:
        agents: Any = require("loom.server.a2a_agent", "a2a", "the A2A door of loom serve",
                              package="a2a-sdk")
    except MissingDependency as missing:
        return [Route("/a2a/{rest:path}", _missing(str(missing)), methods=["GET", "POST"])]

    async def agent_card(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return Json(agents.card_json(served_of(request), base))

    async def rpc(request: Request) -> Response:
        served = served_of(request)
        handlers: dict[str, Any] | None = getattr(request.app.state, "a2a_handlers", None)
        if handlers is None:
            handlers = request.app.state.a2a_handlers = {}
        handler = handlers.get(served.id)
        if handler is None:  # one per component: bounded by the catalog
            handler = handlers[served.id] = agents.dispatcher(manager_of(request), served)
        response: Response = await handler.handle_requests(request)
        return response

    return [
        Route("/a2a/{component_id}" + CARD_PATH, agent_card, methods=["GET"]),
        Route("/a2a/{component_id}/", rpc, methods=["POST"]),
        Route("/a2a/{component_id}", rpc, methods=["POST"]),
    ]


def _missing(message: str) -> Any:
    async def missing(request: Request) -> Response:
        raise ApiError(501, "not_installed", message)
    return missing
