"""Talking to OpenAI-compatible LLM servers: endpoint, client, retries (errors: loom.errors)."""

from loom.llm.client import LlmClient, TokenCallback
from loom.llm.endpoint import (
    DEFAULT_TIMEOUT,
    LlmEndpoint,
    LlmOverrides,
    apply_overrides,
    chat_completions_url,
    overrides_from_env,
)
from loom.llm.http import aclose_shared_http_client, new_http_client, shared_http_client
from loom.llm.response import LlmResponse, ToolCall
from loom.llm.retry import RetryPolicy

__all__ = [
    "DEFAULT_TIMEOUT",
    "LlmClient",
    "LlmEndpoint",
    "LlmOverrides",
    "LlmResponse",
    "RetryPolicy",
    "TokenCallback",
    "ToolCall",
    "aclose_shared_http_client",
    "apply_overrides",
    "chat_completions_url",
    "new_http_client",
    "overrides_from_env",
    "shared_http_client",
]
