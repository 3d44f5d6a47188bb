"""What every run of one Runtime shares: tools, threads, LLM clients, limits."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from loom._bounded import limits
from loom._cache import IdentityCache, LruCache
from loom.llm import LlmClient, LlmEndpoint, LlmOverrides, RetryPolicy, apply_overrides
from loom.runtime.threads import ToolThreads
from loom.runtime.tools import BoundTool
from loom.spec.llms import LlmConfig

LIMIT_KEY = "max_concurrency"
TIMEOUT_KEY = "branch_timeout"


def node_option(metadata: Mapping[str, Any] | None, key: str) -> Any:
    """A loom setting on a node: ``metadata: {"loom": {"max_concurrency": 4}}``."""
    section = (metadata or {}).get("loom")
    return section.get(key) if isinstance(section, Mapping) else None


class Services:
    def __init__(
        self,
        tools: Mapping[str, Callable[..., Any]],
        llm: LlmOverrides,
        max_concurrency: int,
        tool_threads: int,
        branch_timeout: float | None,
        max_steps: int,
        max_iterations: int = 10,
    ) -> None:
        self.tools = {name: BoundTool(name, fn) for name, fn in tools.items()}
        self.llm_overrides = llm
        self.max_concurrency = max_concurrency
        self.branch_timeout = branch_timeout
        self.max_steps = max_steps
        self.max_iterations = max_iterations  # LLM calls an agent may make per user message
        self.pool = ToolThreads(tool_threads)
        # One client per endpoint (it learns what the server refuses), by config object.
        self._llm_clients: IdentityCache[LlmConfig, LlmClient] = IdentityCache()
        self._endpoint_clients: LruCache[tuple[str, str | None], LlmClient] = LruCache(64)
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def inline(self, which: bool | Iterable[str]) -> None:
        """Run the named sync tools (or all, with True) on the loop itself."""
        names = set(self.tools) if which is True else set(which or ())
        for name in names & set(self.tools):
            self.tools[name].is_inline = True

    def global_limit(self) -> asyncio.Semaphore:
        """The runtime-wide bound on parallel branches, one per event loop."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            for old in [old for old in list(self._semaphores) if old.is_closed()]:
                self._semaphores.pop(old, None)  # other threads' loops may be adding theirs
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return semaphore

    def llm_client(self, config: LlmConfig) -> LlmClient:
        client = self._llm_clients.get(config)
        if client is None:
            endpoint = self.endpoint(config)
            client = self._endpoint_clients.get_or_make(
                (repr(endpoint), endpoint.api_key), lambda: LlmClient(endpoint)
            )
            client = self._llm_clients.put(config, client)
        return client

    def endpoint(self, config: LlmConfig) -> LlmEndpoint:
        """Where a config's requests go, after run-wide overrides."""
        url = config.url or ("https://api.openai.com/v1" if config.component_type ==
                             "OpenAiConfig" else "")
        params = {k: v for k, v in (config.default_generation_parameters or {}).items()
                  if v is not None}
        api_key = config.api_key
        if api_key is None and config.component_type == "OpenAiConfig":
            api_key = os.environ.get("OPENAI_API_KEY") or None
        endpoint = LlmEndpoint(
            url=url,
            model=config.model_id,
            api_key=api_key,
            generation_params=params,
            retry=RetryPolicy.from_dict(config.retry_policy),
            api="responses" if config.api_type == "responses" else "chat_completions",
            **limits(config.metadata, config.ref),
        )
        return apply_overrides(endpoint, **self.llm_overrides)

    def close(self) -> None:
        self.pool.shutdown()
