"""An agent's message transforms (26.1.2): rewrite the messages of each LLM request
(never the system prompt, never the run's stored conversation; the README's Agents
section says what each does). Summaries are cached per run in memory by a hash of the
content, and journaled as effects keyed by the transform's place and that hash
(``summary{t}.{hash}``, not the turn), so a resumed run or a later turn takes them from
the journal instead of asking the LLM again. A PostgresDatabaseDatastore keeps them
in a table instead (loom.datastores), shared by runs, Runtimes and processes.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from loom.datastores import PostgresCache
from loom.errors import LlmError, LoomWarning, NodeFailure
from loom.runtime.asking import traced_generate
from loom.runtime.context import RunContext
from loom.runtime.keys import effect_key, summary_key, summary_prefix
from loom.spec.datastores import InMemoryCollectionDatastore, PostgresDatabaseDatastore
from loom.spec.templates import render
from loom.spec.transforms import (
    ConversationSummarizationTransform,
    MessageSummarizationTransform,
    MessageTransform,
)

Summarizer = MessageSummarizationTransform | ConversationSummarizationTransform
_CACHES_KEY = "loom.transforms"


def supported(transforms: Sequence[MessageTransform], agent: str) -> list[Summarizer]:
    """The transforms loom applies; warns once about those it cannot honour fully."""
    applied: list[Summarizer] = []
    for transform in transforms:
        if not isinstance(transform, MessageSummarizationTransform
                          | ConversationSummarizationTransform):
            warnings.warn(
                f"agent '{agent}': {transform.component_type} '{transform.name}' is not "
                "applied by loom; the agent runs without it",
                LoomWarning,
                stacklevel=3,
            )
            continue
        store = transform.datastore
        if store is not None and not isinstance(store, InMemoryCollectionDatastore
                                                | PostgresDatabaseDatastore):
            warnings.warn(
                f"agent '{agent}': {transform.component_type} '{transform.name}' caches its "
                f"summaries in {store.component_type} '{store.name}'; loom keeps them in "
                "memory for the run instead",
                LoomWarning,
                stacklevel=3,
            )
        applied.append(transform)
    return applied


async def apply(
    ctx: RunContext, transforms: Sequence[Summarizer], request: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The request's messages after every transform; the system prompt is kept as is."""
    if not transforms:
        return request
    head = request[:1] if request and request[0].get("role") == "system" else []
    messages = request[len(head):]
    for index, transform in enumerate(transforms):
        summarize = _Summarize(ctx, summary_prefix(index), transform)
        if isinstance(transform, MessageSummarizationTransform):
            messages = await _summarize_messages(transform, summarize, messages)
        else:
            messages = await _summarize_conversation(transform, summarize, messages)
    return head + messages


async def _summarize_messages(
    transform: MessageSummarizationTransform, summarize: _Summarize,
    messages: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    result = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) and len(content) > transform.max_message_size:
            summary = await summarize(content)
            text = render(transform.summarized_message_template, {"summary": summary})
            message = {**message, "content": text}
        result.append(message)
    return result


async def _summarize_conversation(
    transform: ConversationSummarizationTransform, summarize: _Summarize,
    messages: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    if transform.max_num_messages is not None:
        too_long = len(messages) > transform.max_num_messages
    else:
        size = sum(len(str(m.get("content") or "")) for m in messages)
        too_long = transform.max_num_characters is not None and size > transform.max_num_characters
    if not too_long:
        return messages
    cut = split_point(messages, transform.min_num_messages)
    if cut <= 0:
        return messages
    summary = await summarize(conversation_text(messages[:cut]), prefix_size=cut)
    text = render(transform.summarized_conversation_template, {"summary": summary})
    return [{"role": "user", "content": text}, *messages[cut:]]


def split_point(messages: Sequence[dict[str, Any]], keep: int) -> int:
    """Where to cut so that at least the last ``keep`` messages stay, and no tool
    result is separated from the assistant message that called it."""
    cut = max(len(messages) - keep, 0)
    while 0 < cut < len(messages) and messages[cut].get("role") == "tool":
        cut -= 1
    return cut


def conversation_text(messages: Sequence[dict[str, Any]]) -> str:
    """Messages as plain text for the summarizing LLM."""
    lines = []
    for message in messages:
        role = message.get("role", "")
        content = message.get("content")
        if content:
            lines.append(f"{role}: {content}")
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            lines.append(f"{role} called tool {function.get('name', '')} with "
                         f"{function.get('arguments') or '{}'}")
    return "\n".join(lines)


class _Summarize:
    """One transform's summaries within one LLM turn: cache, journal, then the LLM."""

    def __init__(self, ctx: RunContext, prefix: str, transform: Summarizer) -> None:
        self.ctx = ctx
        self.prefix = prefix
        self.transform = transform

    async def __call__(self, content: str, prefix_size: int = 0) -> str:
        digest = hashlib.sha256(
            json.dumps([self.transform.summarization_instructions, content]).encode()
        ).hexdigest()
        value = await self.ctx.effect(summary_key(self.prefix, digest),
                                      lambda: self._cached(digest, content, prefix_size))
        return str(value)

    async def _cached(self, digest: str, content: str, prefix_size: int) -> str:
        cache = _cache(self.ctx, self.transform)
        if isinstance(cache, PostgresCache):
            hit = await cache.get(digest)
        else:
            hit = None if cache is None else cache.get(digest)
        if hit is not None:
            return hit
        summary = await self._ask(content)
        if isinstance(cache, PostgresCache):
            await cache.put(digest, summary, {"prefix_size": prefix_size})
        elif cache is not None:
            cache.put(digest, summary)
        return summary

    async def _ask(self, content: str) -> str:
        transform = self.transform
        client = self.ctx.services.llm_client(transform.llm)
        request = [{"role": "system", "content": transform.summarization_instructions},
                   {"role": "user", "content": content}]
        try:
            answer = await traced_generate(self.ctx, client, transform.llm, request,
                                           request_id=effect_key(self.ctx.step, self.prefix))
        except LlmError as exc:
            raise NodeFailure(
                f"LLM '{transform.llm.name}' of {transform.component_type} "
                f"'{transform.name}' failed: {exc}",
                self.ctx.path,
                hint="check the server, or point the run elsewhere with --llm-url / "
                "LOOM_LLM_URL",
            ) from exc
        return answer.text or ""


class SummaryCache:
    """Summaries by content hash: least recently used out first, entries expire."""

    def __init__(
        self, max_size: int | None, lifetime: int | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_size = max_size
        self.lifetime = lifetime
        self.clock = clock
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        summary, created = entry
        if self.lifetime is not None and self.clock() - created > self.lifetime:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return summary

    def put(self, key: str, summary: str) -> None:
        self._entries[key] = (summary, self.clock())
        self._entries.move_to_end(key)
        while self.max_size is not None and len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _cache(ctx: RunContext, transform: Summarizer) -> SummaryCache | PostgresCache | None:
    """The run's cache for this transform (shared by the agents using it), or None.
    A PostgreSQL table where the datastore is one and the backend may do I/O on worker
    threads (inside a Temporal workflow it may not: memory, as for the others)."""
    store = transform.datastore
    if store is None:
        return None
    caches: dict[str, SummaryCache | PostgresCache] = ctx.run.memo.setdefault(_CACHES_KEY, {})
    name = f"{transform.component_type}:{transform.id}:{transform.cache_collection_name}"
    cache = caches.get(name)
    if cache is None:
        services = ctx.services
        if isinstance(store, PostgresDatabaseDatastore) and services.effects.threads:
            cache = PostgresCache(
                lambda: services.datastores.get(store),
                transform.cache_collection_name, transform.cache_fields,
                transform.max_cache_size, transform.max_cache_lifetime,
                services.effects.now, services.pool.submit)
        else:
            cache = SummaryCache(transform.max_cache_size, transform.max_cache_lifetime,
                                 services.effects.monotonic())
        caches[name] = cache
    return cache
