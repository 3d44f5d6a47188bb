"""``/studio``: the studio's page and its assets, built from ``studio/`` at the repo
root into ``loom/server/studio/`` and shipped in the package (no Node.js needed to
serve it, nothing fetched from elsewhere: its Content-Security-Policy says so).

The page holds no data of its own; it asks the API with the token the user gives
it, so the files are served without a token."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

ASSETS = Path(__file__).with_name("studio")
PREFIX = "/studio"
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
          "img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class StudioFiles(StaticFiles):
    """The built files, each answer with the studio's security headers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def headed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"content-security-policy", POLICY.encode()),
                                      (b"x-content-type-options", b"nosniff"),
                                      (b"cache-control", b"no-cache")]
            await send(message)

        await super().__call__(scope, receive, headed)


def routes() -> list[BaseRoute]:
    return [Mount(PREFIX, app=StudioFiles(directory=ASSETS, html=True), name="studio")]
