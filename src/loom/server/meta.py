"""Probes and the API's own description: ``/healthz``, ``/readyz``,
``/openapi.json`` and ``/docs`` (a self-contained page, nothing from a CDN)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from loom.server.http import Json


async def healthz(request: Request) -> Response:
    return Json({"status": "ok"})


async def readyz(request: Request) -> Response:
    manager = request.app.state.loom
    if manager.ready and not manager.closing:
        return Json({"status": "ready", "components": len(manager.catalog.served)})
    return Json({"status": "starting" if not manager.closing else "stopping"}, status_code=503)


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
