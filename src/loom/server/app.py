"""``create_app(...)``: the ASGI app of ``loom serve``, for users who mount it too.

The routes come from the modules in :data:`ROUTE_MODULES` (each a ``routes()``
function), so the protocol doors mount beside the core API by adding theirs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from loom._optional import require
from loom.errors import LoomError
from loom.runtime import Runtime
from loom.server import a2a_door, api, meta, openai_door, openai_responses, stream, studio
from loom.server.catalog import Catalog
from loom.server.config import ServerConfig, default_server_store
from loom.server.http import Guard, error_response
from loom.server.manager import RunManager
from loom.server.problems import ApiError
from loom.spec.component import Component
from loom.stores import open_store

RouteSource = Callable[[], list[BaseRoute]]
ROUTE_MODULES: tuple[RouteSource, ...] = (
    meta.routes, api.routes, stream.routes, openai_door.routes, openai_responses.routes,
    a2a_door.routes, studio.routes,
)


def create_app(
    directory: str | Path | None = None,
    *,
    config: ServerConfig | None = None,
    components: Mapping[str, Component] | None = None,
    runtime: Runtime | None = None,
    extra_routes: Sequence[RouteSource] = (),
) -> Any:
    """An ASGI app serving every config of ``directory`` (or ``components`` by id).
    Without ``runtime`` one is built from ``config`` (its store from
    ``config.store_url``); the app owns it and closes it on shutdown."""
    config = config or ServerConfig()
    if directory is not None:
        config = ServerConfig(**{**config.__dict__, "directory": Path(directory)})
    owned = runtime is None
    temporal = _temporal_runs() if config.backend else None
    if runtime is None:
        runtime = temporal.build_runtime(config) if temporal else build_runtime(config)
    try:
        catalog = Catalog.from_directory(config.directory, runtime) if config.directory \
            else Catalog({})
        for component_id, component in (components or {}).items():
            catalog.served[component_id] = Catalog.check(component_id, component, runtime)
    except BaseException:
        if owned:
            runtime.close()
            runtime.store.close()
        raise
    manager = temporal.TemporalRunManager(runtime, catalog, config) if temporal \
        else RunManager(runtime, catalog, config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await manager.recover()
        try:
            yield
        finally:
            await manager.close()
            if owned:
                runtime.close()
                runtime.store.close()

    routes: list[BaseRoute] = [Route("/", _root, methods=["GET"])]
    if temporal:  # its event stream comes first: it reads the run's workflow
        routes.extend(temporal.routes())
    for source in (*ROUTE_MODULES, *extra_routes):
        routes.extend(source())
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        ApiError: _api_error, HTTPException: _http_error, LoomError: _loom_error,
        Exception: _unexpected,
    })
    app.state.loom = manager
    return Guard(app, config.tokens, config.max_body)


def build_runtime(config: ServerConfig) -> Runtime:
    llm = {"url": config.llm_url, "model": config.llm_model}
    return Runtime(
        tools=dict(config.tools), registry=dict(config.registry),
        llm={k: v for k, v in llm.items() if v}, store=open_store(
            config.store_url or default_server_store()),
        checkpoint=config.checkpoint, keep_finished=True,
        max_concurrency=config.max_concurrency, inline_tools=config.inline_tools,
        allowed_components=list(config.allowed_components) or None,
        blocked_components=list(config.blocked_components) or None,
    )


def _temporal_runs() -> Any:
    """loom.server.temporal_runs, once temporalio (loom[temporal]) is known to be there."""
    require("temporalio", "temporal", "loom serve --backend")
    from loom.server import temporal_runs

    return temporal_runs


async def _root(request: Request) -> Response:
    return RedirectResponse(studio.PREFIX + "/")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    message = {404: f"no route {request.url.path}",
               405: f"{request.method} is not allowed on {request.url.path}"}
    return error_response(ApiError(exc.status_code, codes.get(exc.status_code, "http_error"),
                                   message.get(exc.status_code, str(exc.detail)),
                                   headers=dict(exc.headers or {})))


async def _loom_error(request: Request, exc: Exception) -> Response:
    return error_response(ApiError.of(422, "invalid", exc))


async def _unexpected(request: Request, exc: Exception) -> Response:
    return error_response(ApiError(500, "internal", f"the server failed: "
                                   f"{type(exc).__name__}; see its log"))
