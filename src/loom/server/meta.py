"""Probes and the API's own description: ``/healthz``, ``/readyz``,
``/openapi.json`` and ``/docs`` (a self-contained page, nothing from a CDN)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from loom.server import openapi
from loom.server.http import Json

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>loom serve: API</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.4em; } code, pre { font: 13px ui-monospace, monospace; }
.op { border: 1px solid #ddd; border-radius: 6px; margin: .6em 0; padding: .4em .8em; }
.m { display: inline-block; min-width: 4.5em; font-weight: bold; text-transform: uppercase; }
.get { color: #1a7f37; } .post { color: #0969da; } .delete { color: #cf222e; }
details pre { background: #f6f8fa; padding: .6em; overflow: auto; }
</style></head><body>
<h1>loom serve</h1>
<p>Every route of this server, read from <a href="/openapi.json">/openapi.json</a>. Send
<code>Authorization: Bearer &lt;token&gt;</code> when the server has tokens.</p>
<div id="ops">loading /openapi.json ...</div>
<script>
fetch("/openapi.json").then(r => r.json()).then(doc => {
  const box = document.getElementById("ops"); box.textContent = "";
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const div = document.createElement("div"); div.className = "op";
      const head = document.createElement("div");
      const m = document.createElement("span"); m.className = "m " + method;
      m.textContent = method; head.append(m);
      const c = document.createElement("code"); c.textContent = path; head.append(c);
      const s = document.createElement("div"); s.textContent = op.summary || "";
      const d = document.createElement("details");
      const sum = document.createElement("summary"); sum.textContent = "details";
      const pre = document.createElement("pre"); pre.textContent = JSON.stringify(op, null, 2);
      d.append(sum, pre); div.append(head, s, d); box.append(div);
    }
  }
}).catch(e => { document.getElementById("ops").textContent = "cannot read /openapi.json: " + e; });
</script></body></html>
"""


async def healthz(request: Request) -> Response:
    return Json({"status": "ok"})


async def readyz(request: Request) -> Response:
    manager = request.app.state.loom
    if manager.ready and not manager.closing:
        return Json({"status": "ready", "components": len(manager.catalog.served)})
    return Json({"status": "starting" if not manager.closing else "stopping"}, status_code=503)


async def openapi_json(request: Request) -> Response:
    return Json(openapi.document(request.app.routes))


async def docs(request: Request) -> Response:
    return HTMLResponse(DOCS_PAGE, headers={"Content-Security-Policy": "default-src 'self'; "
                                            "script-src 'unsafe-inline'; "
                                            "style-src 'unsafe-inline'; connect-src 'self'"})


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]
