"""What every route shares: JSON in and out, the bearer-token and body-size guard,
and the error answers."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loom.runs import json_text
from loom.server.problems import ApiError

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs"})
OPEN_PREFIX = "/studio"  # the studio (and "/", its redirect): the page asks the API with a token
MAX_WAIT = 300.0


class Json(JSONResponse):
    """Strict JSON; NaN and infinities (which JSON cannot hold) as null."""

    def render(self, content: Any) -> bytes:
        return json_text(content).encode("utf-8")


def error_response(error: ApiError) -> Response:
    return Json(error.body(), status_code=error.status, headers=error.headers)


async def body_object(request: Request) -> dict[str, Any]:
    """The request's JSON object (an empty body is ``{}``)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_request", "the request body must be a JSON object")
    return data


def wait_seconds(request: Request) -> float | None:
    text = request.query_params.get("wait")
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_WAIT:
        raise ApiError(422, "invalid_request", f"wait must be a number of seconds from 0 to "
                       f"{MAX_WAIT:g}, not {text!r}", where="wait")
    return seconds


def token_of(request: Request) -> str:
    """Who asks, for the per-token limits: the token's fingerprint, or "" without auth."""
    return str(request.scope.get("loom_token", ""))


def fingerprint(token: bytes) -> str:
    """What the store keeps of a token to count its runs across processes: the same
    in every process, and no way back to the token (tokens are long random strings)."""
    return hashlib.sha256(b"loom serve token\0" + token).hexdigest()[:32]


def _open(path: str) -> bool:
    return path in OPEN_PATHS or path in ("/", OPEN_PREFIX) or path.startswith(OPEN_PREFIX + "/")


class Guard:
    """Bearer tokens (compared in constant time) on every route but the open ones,
    and the request body limit (413), before the app sees the request."""

    def __init__(self, app: ASGIApp, tokens: Sequence[str], max_body: int) -> None:
        self.app = app
        self.tokens = [token.encode() for token in tokens]
        self.fingerprints = [fingerprint(token) for token in self.tokens]
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.tokens and not _open(scope["path"]):
            who = self._who(headers.get(b"authorization", b""))
            if who is None:
                await error_response(ApiError(
                    401, "unauthorized", "a valid bearer token is needed: send "
                    "'Authorization: Bearer <token>'",
                    headers={"WWW-Authenticate": "Bearer"}))(scope, receive, send)
                return
            scope["loom_token"] = who
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await error_response(self._too_large())(scope, receive, send)
            return
        await self.app(scope, self._limited(receive), send)

    def _who(self, header: bytes) -> str | None:
        scheme, _, given = header.partition(b" ")
        if scheme.lower() != b"bearer":
            return None
        found = None
        for index, token in enumerate(self.tokens):  # every one compared: no early exit
            if hmac.compare_digest(token, given.strip()):
                found = self.fingerprints[index]
        return found

    def _too_large(self) -> ApiError:
        return ApiError(413, "too_large", f"the request body is over {self.max_body} bytes "
                        "(--max-body)")

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise ApiError(413, "too_large", f"the request body is over "
                                   f"{self.max_body} bytes (--max-body)")
            return message

        return limited
