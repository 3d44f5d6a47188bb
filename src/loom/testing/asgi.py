"""Serving any ASGI app on 127.0.0.1 for a test (an API for ApiNode, RemoteTool...)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn

from loom.testing.fake_server import bind_socket


@contextmanager
def serve_asgi(
    app: Any, start_timeout: float = 10.0, lifespan: Literal["on", "off"] = "off", **options: Any
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread; yields its base URL (``lifespan="on"``
    for an app that starts and stops things, as loom's server does).

    ``options`` go to ``uvicorn.Config``: with ``ssl_certfile`` it serves HTTPS."""
    sock = bind_socket(0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="error", lifespan=lifespan, **options)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test HTTP server did not start")
        time.sleep(0.01)
    try:
        scheme = "https" if options.get("ssl_certfile") else "http"
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
