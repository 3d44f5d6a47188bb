"""Where and how to call a model: URL, model name, key, parameters, retries."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from loom._bounded import DEFAULT_DEADLINE, MAX_RESPONSE_BYTES, MAX_STREAM_BYTES
from loom.llm.retry import RetryPolicy

DEFAULT_TIMEOUT = 60.0
"""Seconds one attempt may wait for the server, unless the retry policy says otherwise."""


ENV_URL = "LOOM_LLM_URL"
ENV_MODEL = "LOOM_LLM_MODEL"
ENV_API_KEY = "LOOM_LLM_API_KEY"


@dataclass(frozen=True)
class LlmEndpoint:
    """An OpenAI-compatible endpoint: chat completions, or ``api="responses"``.

    ``url`` is the server's base URL, with or without a trailing ``/v1``.
    ``generation_params`` (max_tokens, temperature, top_p, anything else) go
    into every request body as they are. The API key is kept out of ``repr``.
    """

    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    generation_params: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    deadline: float | None = None
    max_response_bytes: int = MAX_RESPONSE_BYTES
    max_stream_bytes: int = MAX_STREAM_BYTES
    api: Literal["chat_completions", "responses"] = "chat_completions"

    @property
    def chat_completions_url(self) -> str:
        return chat_completions_url(self.url)

    @property
    def request_url(self) -> str:
        """The URL requests are posted to: ``.../v1/chat/completions`` or ``.../v1/responses``."""
        return _api_url(self.url, "/responses" if self.api == "responses" else _CHAT)

    @property
    def attempt_timeout(self) -> float | None:
        """Per-attempt timeout: the policy's ``request_timeout`` wins when set."""
        if self.retry.request_timeout is not None:
            return self.retry.request_timeout
        return self.timeout

    @property
    def attempt_deadline(self) -> float:
        """Never below the read timeout unless ``deadline`` says so."""
        return self.deadline or max(DEFAULT_DEADLINE, self.attempt_timeout or 0.0)


_CHAT = "/chat/completions"


def chat_completions_url(base_url: str) -> str:
    """``http://h:1`` and ``http://h:1/v1/`` both give ``http://h:1/v1/chat/completions``."""
    return _api_url(base_url, _CHAT)


def _api_url(base_url: str, path: str) -> str:
    base = base_url.strip().rstrip("/")
    if base.endswith(path):
        return base
    if not base.endswith("/v1"):
        base += "/v1"
    return base + path


class LlmOverrides(TypedDict, total=False):
    """Values that replace an endpoint's URL, model or key (CLI flags, env)."""

    url: str
    model: str
    api_key: str


def overrides_from_env(environ: Mapping[str, str] | None = None) -> LlmOverrides:
    """Read ``LOOM_LLM_URL``, ``LOOM_LLM_MODEL`` and ``LOOM_LLM_API_KEY`` (empty = unset)."""
    env = os.environ if environ is None else environ
    found = LlmOverrides()
    if env.get(ENV_URL):
        found["url"] = env[ENV_URL]
    if env.get(ENV_MODEL):
        found["model"] = env[ENV_MODEL]
    if env.get(ENV_API_KEY):
        found["api_key"] = env[ENV_API_KEY]
    return found


def apply_overrides(
    endpoint: LlmEndpoint,
    url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
) -> LlmEndpoint:
    """Return ``endpoint`` with the given (non-``None``) values replaced.

    Lets one config run against another server, e.g.
    ``apply_overrides(ep, **overrides_from_env())``.
    """
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = url
    if model is not None:
        changes["model"] = model
    if api_key is not None:
        changes["api_key"] = api_key
    return dataclasses.replace(endpoint, **changes) if changes else endpoint
