"""LLM configurations: which model to call and how."""

from __future__ import annotations

from typing import Any, ClassVar

from loom.spec.component import Component


class LlmConfig(Component):
    """A generic LLM description (concrete since 26.1.2)."""

    min_agentspec_version: ClassVar[str] = "26.1.2"
    sensitive_fields: ClassVar[frozenset[str]] = frozenset({"api_key"})

    default_generation_parameters: dict[str, Any] | None = None
    model_id: str
    provider: str | None = None
    api_provider: str | None = None
    api_type: str | None = None
    url: str | None = None
    api_key: str | None = None
    retry_policy: dict[str, Any] | None = None
