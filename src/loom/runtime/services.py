"""What every run of one Runtime shares: tools, threads, LLM clients, limits."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from loom._bounded import limits
from loom._cache import IdentityCache
from loom.datastores import Links
from loom.llm import LlmEndpoint, LlmOverrides, RetryPolicy, apply_overrides
from loom.runtime.effects import Effects, LlmCaller
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
        self.effects = Effects(self.pool)  # a backend may put its own door here
        self._llm_clients: IdentityCache[LlmConfig, LlmCaller] = IdentityCache()
        self.datastores = Links()  # the runs' datastore connections, closed with the Runtime

    def inline(self, which: bool | Iterable[str]) -> None:
        """Run the named sync tools (or all, with True) on the loop itself."""
        names = set(self.tools) if which is True else set(which or ())
        for name in names & set(self.tools):
            self.tools[name].is_inline = True

    def global_limit(self) -> asyncio.Semaphore:
        """The runtime-wide bound on parallel branches."""
        return self.effects.semaphore(self.max_concurrency)

    def llm_client(self, config: LlmConfig) -> LlmCaller:
        client = self._llm_clients.get(config)
        if client is None:
            client = self._llm_clients.put(config, self.effects.llm(config, self.endpoint))
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
        self.datastores.close()
        self.pool.shutdown()
