"""ApiNode: a templated HTTP request whose JSON response becomes the outputs."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import httpx

from loom.errors import StepError, redact
from loom.llm import RetryPolicy, shared_http_client
from loom.runtime.context import RunContext
from loom.runtime.plan import Compiler, Executor
from loom.spec.nodes import NEXT, ApiNode
from loom.spec.templates import render, render_nested

DEFAULT_TIMEOUT = 30.0
FORM = "application/x-www-form-urlencoded"


def url_allowed(url: str, allow_list: list[str]) -> bool:
    """Same scheme and host:port, and the path starts with the entry's path.

    Both sides are compared as the HTTP client will send them: it removes dot
    segments ("/items/../admin" goes out as "/admin"), so the raw text must not
    be trusted. Percent-encoded dot segments, which a server may resolve, are refused.
    """
    target = _normalized(url)
    if target is None or any(seg in (".", "..") for seg in unquote(target.path).split("/")):
        return False
    for entry in allow_list:
        allowed = _normalized(entry)
        if (
            allowed is not None
            and target.scheme == allowed.scheme
            and target.netloc == allowed.netloc
            and target.path.startswith(allowed.path)
        ):
            return True
    return False


def _normalized(url: str) -> SplitResult | None:
    try:
        return urlsplit(str(httpx.URL(url)))
    except (httpx.InvalidURL, ValueError):
        return None


class ApiExecutor(Executor):
    journaled = True  # a resumed run replays its recorded result
    threaded = False

    def __init__(self, node: ApiNode, compiler: Compiler) -> None:
        self.node = node
        self.retry = RetryPolicy.from_dict(node.retry_policy)
        self.outputs = list(node.outputs or [])
        # A server may echo a header back in an error body: mask the secret ones.
        self.secrets = [str(v) for v in (node.sensitive_headers or {}).values() if str(v)]

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        node = self.node
        url = render(node.url, inputs)
        if node.url_allow_list is not None and not url_allowed(url, node.url_allow_list):
            raise StepError(
                f"URL {url!r} is not in the node's url_allow_list",
                hint="add its prefix to url_allow_list or fix the URL",
            )
        method = render(node.http_method, inputs).upper()
        headers = {str(k): str(v) for k, v in render_nested(node.headers, inputs).items()}
        headers.update({str(k): str(v) for k, v in (node.sensitive_headers or {}).items()})
        params = render_nested(node.query_params, inputs)
        data = render_nested(node.data, inputs)
        request: dict[str, Any] = {"headers": headers, "params": params}
        if isinstance(data, (str, bytes)):
            request["content"] = data
        elif any(v.lower().startswith(FORM) for k, v in headers.items()
                 if k.lower() == "content-type"):
            request["data"] = data
        elif data not in ({}, None) or method not in ("GET", "HEAD", "DELETE"):
            request["json"] = data
        response = await self._send(method, url, request)
        return self._outputs(response), NEXT

    async def _send(self, method: str, url: str, request: dict[str, Any]) -> httpx.Response:
        client = shared_http_client()
        timeout = self.retry.request_timeout or DEFAULT_TIMEOUT
        attempt = 0
        while True:
            try:
                response = await client.request(method, url, timeout=timeout, **request)
            except httpx.TimeoutException:
                error = StepError(f"{method} {url} timed out after {timeout:g} s")
                status = None
            except httpx.HTTPError as exc:
                detail = self._mask(f"{type(exc).__name__}: {exc}")
                error = StepError(f"{method} {url} failed: {detail}")
                status = None
            else:
                if response.status_code < 400:
                    return response
                status = response.status_code
                error = StepError(
                    f"{method} {url} answered HTTP {status}: {self._mask(response.text)[:200]}",
                    hint="check the URL, the method and the request data",
                )
            if attempt >= self.retry.max_attempts or not (status is None or self.retry.is_recoverable_status(status)):
                raise error
            await asyncio.sleep(self.retry.delay(attempt, status))
            attempt += 1

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = redact(text, secret)
        return text

    def _outputs(self, response: httpx.Response) -> dict[str, Any]:
        if not self.outputs:
            return {}
        try:
            body: Any = response.json()
        except (json.JSONDecodeError, ValueError):
            body = response.text
        if len(self.outputs) == 1:
            prop = self.outputs[0]
            if isinstance(body, dict) and prop.title in body and len(body) == 1:
                return {prop.title: body[prop.title]}
            return {prop.title: body}
        if not isinstance(body, dict):
            raise StepError(
                f"the response is not a JSON object, but the node declares outputs "
                f"{[p.title for p in self.outputs]}"
            )
        values = {}
        for prop in self.outputs:
            if prop.title in body:
                values[prop.title] = body[prop.title]
            elif prop.has_default:
                values[prop.title] = prop.default
            else:
                raise StepError(f"the response has no field '{prop.title}'")
        return values
