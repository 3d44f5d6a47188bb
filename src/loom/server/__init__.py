"""``loom serve``: flows and agents as an HTTP service (``pip install 'loom[server]'``).

``create_app(directory)`` is the ASGI app (Starlette); ``loom serve DIR`` runs
it on uvicorn. Runs live in a checkpoint store, so a restarted server goes on
with them; see the README section "loom serve"."""

from loom.server.app import ROUTE_MODULES, create_app
from loom.server.config import ServerConfig

__all__ = ["ROUTE_MODULES", "ServerConfig", "create_app"]
