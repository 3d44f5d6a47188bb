"""The components and runs API: ``/v1/components...`` and ``/v1/runs...``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from loom.server.catalog import Served
from loom.server.http import Json, body_object, token_of, wait_seconds
from loom.server.manager import RunManager
from loom.server.problems import ApiError, not_found

LIST_LIMIT = 50
STATUSES = ("running", "waiting", "finished", "failed", "cancelled")


def manager_of(request: Request) -> RunManager:
    manager: RunManager = request.app.state.loom
    return manager


def served_of(request: Request) -> Served:
    component_id = request.path_params["component_id"]
    served = manager_of(request).catalog.get(component_id)
    if served is None:
        raise not_found("component", component_id)
    return served


async def list_components(request: Request) -> Response:
    return Json({"data": [served.summary() for served in manager_of(request).catalog]})


async def get_component(request: Request) -> Response:
    return Json(served_of(request).document())


async def get_graph(request: Request) -> Response:
    served = served_of(request)
    fmt = request.query_params.get("format", "json")
    data = request.query_params.get("data", "0")
    if data not in ("0", "1"):
        raise ApiError(422, "invalid_request", f"data must be 0 or 1, not {data!r}",
                       where="data")
    if fmt == "mermaid":
        return PlainTextResponse(served.graph(mermaid=True, data=data == "1"))
    if fmt != "json":
        raise ApiError(422, "invalid_request", f"format must be json or mermaid, not {fmt!r}",
                       where="format")
    return Json(served.graph(data=data == "1"))


async def start_run(request: Request) -> Response:
    served = served_of(request)
    wait = wait_seconds(request)
    body = await body_object(request)
    run_id = body.get("run_id")
    if run_id is not None and (not isinstance(run_id, str) or not run_id.strip()
                               or len(run_id) > 200):
        raise ApiError(422, "invalid_request", "run_id must be a non-empty string of at most "
                       "200 characters", where="run_id")
    manager = manager_of(request)
    data, new = await manager.start(served, body.get("inputs"), run_id, body.get("metadata"),
                                    token_of(request))
    if wait:
        data = await manager.wait(data["run_id"], wait)
    return Json(data, status_code=202 if new else 200)


async def list_runs(request: Request) -> Response:
    query = request.query_params
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(422, "invalid_request", f"status must be one of {', '.join(STATUSES)}",
                       where="status")
    try:
        limit = int(query.get("limit", LIST_LIMIT))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 500:
        raise ApiError(422, "invalid_request", "limit must be a whole number from 1 to 500",
                       where="limit")
    page = await manager_of(request).listing(status, query.get("component") or None,
                                             query.get("cursor") or None, limit)
    return Json(page)


async def get_run(request: Request) -> Response:
    return Json(await manager_of(request).record(request.path_params["run_id"]))


async def delete_run(request: Request) -> Response:
    await manager_of(request).delete(request.path_params["run_id"])
    return Response(status_code=204)


async def answer_run(request: Request) -> Response:
    wait = wait_seconds(request)
    body = await body_object(request)
    manager = manager_of(request)
    run_id = request.path_params["run_id"]
    data = await manager.answer(run_id, body.get("answers"), token_of(request))
    if wait:
        data = await manager.wait(run_id, wait)
    return Json(data)


async def cancel_run(request: Request) -> Response:
    """200 and the record once the run ended; 202 while the process running it has
    been asked to cancel it but has not yet (``cancel_requested``: poll the run)."""
    data = await manager_of(request).cancel(request.path_params["run_id"])
    if data["status"] in ("running", "waiting"):
        return Json({**data, "cancel_requested": True}, status_code=202)
    return Json(data)


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/components", list_components, methods=["GET"]),
        Route("/v1/components/{component_id}", get_component, methods=["GET"]),
        Route("/v1/components/{component_id}/graph", get_graph, methods=["GET"]),
        Route("/v1/components/{component_id}/runs", start_run, methods=["POST"]),
        Route("/v1/runs", list_runs, methods=["GET"]),
        Route("/v1/runs/{run_id}", get_run, methods=["GET"]),
        Route("/v1/runs/{run_id}", delete_run, methods=["DELETE"]),
        Route("/v1/runs/{run_id}/answers", answer_run, methods=["POST"]),
        Route("/v1/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
    ]
