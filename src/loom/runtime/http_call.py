"""The templated HTTP request of an ApiNode or a RemoteTool."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import httpx

from loom._bounded import (
    DEFAULT_DEADLINE,
    MAX_RESPONSE_BYTES,
    TooLarge,
    limit_hint,
    limits,
    read_body,
    within,
)
from loom.errors import StepError, redact
from loom.llm import shared_http_client
from loom.llm.http import transport_retryable
from loom.llm.retry import Failure, retry_after, retrying
from loom.spec.nodes import ApiNode
from loom.spec.retry_policy import RetryPolicy
from loom.spec.templates import render, render_nested
from loom.spec.tools import RemoteTool

DEFAULT_TIMEOUT = 30.0
FORM = "application/x-www-form-urlencoded"


def url_allowed(url: str, allow_list: list[str]) -> bool:
    """Same scheme and host:port, and the path starts with the entry's, both as
    httpx sends them (dot segments removed); encoded dot segments are refused."""
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


class _Answered(Exception):  # an error status, for the retry loop to judge

    def __init__(self, response: httpx.Response, text: str) -> None:
        self.response = response
        self.text = text


class HttpCall:
    """``await call(inputs)``: render, check the allow list, send, read the outputs."""

    def __init__(self, source: ApiNode | RemoteTool) -> None:
        self.source = source
        self.retry = RetryPolicy.from_dict(source.retry_policy, source.ref)
        self.timeout = self.retry.request_timeout or DEFAULT_TIMEOUT
        found = limits(source.metadata, source.ref)
        self.deadline = found.get("deadline", max(DEFAULT_DEADLINE, self.timeout))
        self.max_bytes = found.get("max_response_bytes", MAX_RESPONSE_BYTES)
        self.outputs = list(source.outputs or [])
        # A server may echo a header back in an error body: mask the secret ones.
        self.secrets = [str(v) for v in (source.sensitive_headers or {}).values() if str(v)]

    async def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        source = self.source
        url = render(source.url, inputs)
        if source.url_allow_list is not None and not url_allowed(url, source.url_allow_list):
            raise StepError(
                f"URL {url!r} is not in the node's url_allow_list",
                hint="add its prefix to url_allow_list or fix the URL",
            )
        method = render(source.http_method, inputs).upper()
        headers = {str(k): str(v) for k, v in render_nested(source.headers, inputs).items()}
        headers.update({str(k): str(v) for k, v in (source.sensitive_headers or {}).items()})
        params = render_nested(source.query_params, inputs)
        data = render_nested(source.data, inputs)
        request: dict[str, Any] = {"headers": headers, "params": params}
        if isinstance(data, (str, bytes)):
            request["content"] = data
        elif any(v.lower().startswith(FORM) for k, v in headers.items()
                 if k.lower() == "content-type"):
            request["data"] = data
        elif data not in ({}, None) or method not in ("GET", "HEAD", "DELETE"):
            request["json"] = data
        return self._outputs(await self._send(method, url, request))

    async def _send(self, method: str, url: str, request: dict[str, Any]) -> str:
        client = shared_http_client()

        async def once() -> str:
            async with client.stream(method, url, timeout=self.timeout, **request) as response:
                failed = response.status_code >= 400
                text = await read_body(response, self.max_bytes, cut=failed)
            if failed:
                raise _Answered(response, text)
            return text

        try:
            return await retrying(
                self.retry, lambda: within(self.deadline, once()), _judge
            )
        except _Answered as exc:
            status = exc.response.status_code
            raise StepError(
                f"{method} {url} answered HTTP {status}: {self._mask(exc.text)[:200]}",
                hint="check the URL, the method and the request data",
            ) from None
        except httpx.TimeoutException:
            raise StepError(f"{method} {url} timed out after {self.timeout:g} s") from None
        except asyncio.TimeoutError:
            raise StepError(f"{method} {url} did not answer in full within {self.deadline:g} s",
                            hint=limit_hint("deadline (seconds)", "node")) from None
        except TooLarge:
            raise StepError(f"{method} {url} answered more than {self.max_bytes:,} bytes",
                            hint=limit_hint("max_response_bytes", "node")) from None
        except httpx.HTTPError as exc:
            detail = self._mask(f"{type(exc).__name__}: {exc}")
            raise StepError(f"{method} {url} failed: {detail}") from None

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = redact(text, secret)
        return text

    def _outputs(self, text: str) -> dict[str, Any]:
        if not self.outputs:
            return {}
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
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


def _judge(exc: Exception) -> Failure | None:
    if isinstance(exc, _Answered):
        response = exc.response
        return Failure(response.status_code, exc.text, retry_after(response.headers))
    if isinstance(exc, (httpx.HTTPError, asyncio.TimeoutError)):
        return Failure(retryable=transport_retryable(exc))
    return None
