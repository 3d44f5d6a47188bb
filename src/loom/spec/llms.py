"""LLM configurations: which model to call and how.

``default_generation_parameters`` (LlmGenerationConfig) and ``retry_policy``
(RetryPolicy) are plain objects, kept as dicts and checked here.

Some classes fix a field to a constant (``VllmConfig.api_provider`` is always
``"vllm"``) or never write it (``OpenAiConfig.url``); those keys are listed in
``implied_fields``: accepted when a file has them, not written back.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

from loom.errors import LoomWarning
from loom.spec.component import Component
from loom.spec.datastores import OracleDatabaseConnectionConfig
from loom.spec.field_rules import (
    check_choice,
    check_fixed,
    check_generation_parameters,
    check_number,
    check_retry_policy,
    late_field_gates,
)

OPENAI_API_TYPES: tuple[str, ...] = ("chat_completions", "responses")
OCI_API_TYPES: tuple[str, ...] = ("oci", "openai_chat_completions", "openai_responses")
OCI_PROVIDERS: tuple[str, ...] = ("META", "GROK", "XAI", "COHERE", "OTHER")
OCI_SERVING_MODES: tuple[str, ...] = ("ON_DEMAND", "DEDICATED")
OCI_AUTH_TYPES: tuple[str, ...] = (
    "API_KEY",
    "SECURITY_TOKEN",
    "INSTANCE_PRINCIPAL",
    "RESOURCE_PRINCIPAL",
)

# Client key, certificate and CA bundle (PEM paths) are secrets, like the API key.
_OPENAI_COMPATIBLE_SECRETS: frozenset[str] = frozenset(
    {"api_key", "key_file", "cert_file", "ca_file"}
)
# Fields of LlmConfig that older versions of the subclasses did not have.
_NEWER_OPENAI_FIELDS: dict[str, str] = {
    "provider": "26.1.2",
    "api_provider": "26.1.2",
    "api_type": "25.4.2",
    "api_key": "25.4.2",
    "retry_policy": "26.1.2",
    "key_file": "26.1.2",
    "cert_file": "26.1.2",
    "ca_file": "26.1.2",
}


class LlmConfig(Component):
    """A generic LLM description (concrete since 26.1.2); subclasses name a serving API."""

    min_agentspec_version: ClassVar[str] = "26.1.2"
    sensitive_fields: ClassVar[frozenset[str]] = frozenset({"api_key"})
    # Fields whose value the component type implies, with that value.
    fixed_values: ClassVar[dict[str, Any]] = {}

    model_id: str
    provider: str | None = None
    api_provider: str | None = None
    api_type: str | None = None
    url: str | None = None
    api_key: str | None = None
    default_generation_parameters: dict[str, Any] | None = None
    retry_policy: dict[str, Any] | None = None

    def _check(self) -> None:
        super()._check()
        check_fixed(self, self.fixed_values)
        check_generation_parameters(self, self.default_generation_parameters)
        check_retry_policy(self, self.retry_policy)

    def feature_versions(self) -> list[tuple[str, str]]:
        return super().feature_versions() + late_field_gates(self)

    def _check_api_type(self, choices: tuple[str, ...]) -> None:
        if self.api_type is None:
            self.api_type = choices[0]
        check_choice(self, "api_type", self.api_type, choices)


class OpenAiCompatibleConfig(LlmConfig):
    """Any endpoint that speaks the OpenAI Chat Completions or Responses API."""

    min_agentspec_version: ClassVar[str] = "25.4.1"
    sensitive_fields: ClassVar[frozenset[str]] = _OPENAI_COMPATIBLE_SECRETS
    field_versions: ClassVar[dict[str, str]] = _NEWER_OPENAI_FIELDS

    api_type: str | None = "chat_completions"
    url: str
    key_file: str | None = None
    cert_file: str | None = None
    ca_file: str | None = None

    def _check(self) -> None:
        super()._check()
        self._check_api_type(OPENAI_API_TYPES)


class VllmConfig(OpenAiCompatibleConfig):
    """A vLLM server (OpenAI-compatible)."""

    fixed_values: ClassVar[dict[str, Any]] = {"api_provider": "vllm"}
    implied_fields: ClassVar[frozenset[str]] = frozenset({"api_provider"})
    field_versions: ClassVar[dict[str, str]] = {
        k: v for k, v in _NEWER_OPENAI_FIELDS.items() if k != "api_provider"
    }

    api_provider: str | None = "vllm"


class OllamaConfig(OpenAiCompatibleConfig):
    """An Ollama server (OpenAI-compatible)."""

    fixed_values: ClassVar[dict[str, Any]] = {"api_provider": "ollama"}
    implied_fields: ClassVar[frozenset[str]] = frozenset({"api_provider"})
    field_versions: ClassVar[dict[str, str]] = {
        k: v for k, v in _NEWER_OPENAI_FIELDS.items() if k != "api_provider"
    }

    api_provider: str | None = "ollama"


class OpenAiConfig(LlmConfig):
    """OpenAI's own service (the URL is the provider's)."""

    min_agentspec_version: ClassVar[str] = "25.4.1"
    fixed_values: ClassVar[dict[str, Any]] = {"provider": "openai", "api_provider": "openai"}
    implied_fields: ClassVar[frozenset[str]] = frozenset({"provider", "api_provider", "url"})
    field_versions: ClassVar[dict[str, str]] = {
        "api_type": "25.4.2",
        "api_key": "25.4.2",
        "retry_policy": "26.1.2",
    }

    provider: str | None = "openai"
    api_provider: str | None = "openai"
    api_type: str | None = "chat_completions"

    def _check(self) -> None:
        super()._check()
        self._check_api_type(OPENAI_API_TYPES)


class OciClientConfig(Component):
    """How to authenticate to OCI (for OciGenAiConfig and OciAgent)."""

    abstract = True
    # The auth_type each concrete class writes.
    auth_type_value: ClassVar[str] = ""

    service_endpoint: str
    auth_type: str

    def _check(self) -> None:
        super()._check()
        if self.auth_type != self.auth_type_value:
            raise self.error(
                f"auth_type of a {self.component_type} is always {self.auth_type_value!r}, "
                f"got {self.auth_type!r}",
                hint="remove auth_type or use the OCI client configuration of that type",
            )


class OciClientConfigWithApiKey(OciClientConfig):
    """An OCI config file (``auth_file_location``) and profile with an API key."""

    sensitive_fields: ClassVar[frozenset[str]] = frozenset({"auth_file_location"})
    auth_type_value: ClassVar[str] = "API_KEY"

    auth_type: str = "API_KEY"
    auth_profile: str
    auth_file_location: str


class OciClientConfigWithSecurityToken(OciClientConfig):
    """An OCI config file and profile with a session token."""

    sensitive_fields: ClassVar[frozenset[str]] = frozenset({"auth_file_location"})
    auth_type_value: ClassVar[str] = "SECURITY_TOKEN"

    auth_type: str = "SECURITY_TOKEN"
    auth_profile: str
    auth_file_location: str


class OciClientConfigWithInstancePrincipal(OciClientConfig):
    """The identity of the OCI compute instance."""

    auth_type_value: ClassVar[str] = "INSTANCE_PRINCIPAL"

    auth_type: str = "INSTANCE_PRINCIPAL"


class OciClientConfigWithResourcePrincipal(OciClientConfig):
    """The identity of the OCI resource (functions, jobs...)."""

    auth_type_value: ClassVar[str] = "RESOURCE_PRINCIPAL"

    auth_type: str = "RESOURCE_PRINCIPAL"


class OciGenAiConfig(LlmConfig):
    """A model of OCI Generative AI."""

    min_agentspec_version: ClassVar[str] = "25.4.1"
    fixed_values: ClassVar[dict[str, Any]] = {"api_provider": "oci"}
    implied_fields: ClassVar[frozenset[str]] = frozenset({"api_provider", "api_key", "url"})
    field_versions: ClassVar[dict[str, str]] = {
        "api_type": "25.4.2",
        "retry_policy": "26.1.2",
        "conversation_store_id": "25.4.2",
    }

    api_provider: str | None = "oci"
    api_type: str | None = "oci"
    compartment_id: str
    serving_mode: str = "ON_DEMAND"
    client_config: OciClientConfig
    conversation_store_id: str | None = None

    def _check(self) -> None:
        super()._check()
        self._check_api_type(OCI_API_TYPES)
        check_choice(self, "serving_mode", self.serving_mode, OCI_SERVING_MODES)
        check_choice(self, "provider", self.provider, OCI_PROVIDERS, allow_none=True)
        if self.serving_mode == "DEDICATED" and self.provider is None:
            raise self.error(
                "a DEDICATED model needs its provider",
                hint=f"set provider to one of {list(OCI_PROVIDERS)} "
                "(it cannot be detected from the endpoint id)",
            )
        if self.provider == "GROK":
            warnings.warn(
                f"{self.ref}: provider 'GROK' is kept for compatibility; prefer 'XAI'",
                LoomWarning,
                stacklevel=2,
            )

    def feature_versions(self) -> list[tuple[str, str]]:
        found = super().feature_versions()
        if self.provider == "XAI":
            found.append(("26.1.2", "OciGenAiConfig.provider='XAI'"))
        return found


class GeminiAuthConfig(Component):
    """How to authenticate to Google Gemini."""

    abstract = True
    min_agentspec_version: ClassVar[str] = "26.1.2"


class GeminiAIStudioAuthConfig(GeminiAuthConfig):
    """An AI Studio API key (null: the runtime may read ``GEMINI_API_KEY``)."""

    sensitive_fields: ClassVar[frozenset[str]] = frozenset({"api_key"})

    api_key: str | None = None


class GeminiVertexAIAuthConfig(GeminiAuthConfig):
    """Google Cloud credentials for Vertex AI (null: Application Default Credentials)."""

    sensitive_fields: ClassVar[frozenset[str]] = frozenset({"credentials"})

    project_id: str | None = None
    location: str = "global"
    credentials: str | dict[str, Any] | None = None


class GeminiConfig(LlmConfig):
    """Google Gemini, through AI Studio or Vertex AI depending on ``auth``."""

    min_agentspec_version: ClassVar[str] = "26.1.2"
    fixed_values: ClassVar[dict[str, Any]] = {"provider": "google"}
    implied_fields: ClassVar[frozenset[str]] = frozenset({"provider", "url"})

    provider: str | None = "google"
    auth: GeminiAuthConfig


class DbmsVectorChainLlmConfig(LlmConfig):
    """A model that Oracle Database calls for you through DBMS_VECTOR_CHAIN (26.3.1).

    Authentication is the database credential ``credential_name``, or none with
    ``host: local`` (a local OpenAI or Ollama server), so the inherited
    ``api_provider``, ``api_type`` and ``api_key`` must stay unset.
    """

    min_agentspec_version: ClassVar[str] = "26.3.1"
    implied_fields: ClassVar[frozenset[str]] = frozenset({"api_provider", "api_type", "api_key"})

    provider: str  # required here
    url: str
    host: str | None = None
    credential_name: str | None = None
    transfer_timeout: int | None = None
    connection_config: OracleDatabaseConnectionConfig | None = None

    def _check(self) -> None:
        super()._check()
        for field in ("model_id", "provider", "url", "credential_name"):
            if getattr(self, field) == "":
                raise self.error(f"{field} must not be empty", hint=f"give {field} a value")
        inherited = [f for f in sorted(self.implied_fields) if getattr(self, f) is not None]
        if inherited:
            raise self.error(
                f"a DbmsVectorChainLlmConfig does not take {', '.join(inherited)}",
                hint="the database credential named by credential_name authenticates the "
                "calls: remove those fields",
            )
        check_choice(self, "host", self.host, ("local",), allow_none=True)
        check_number(self, "transfer_timeout", self.transfer_timeout, minimum=0,
                     integer=True, allow_none=True)
        if (self.host is None) == (self.credential_name is None):
            raise self.error(
                "set exactly one of credential_name and host"
                + (": both are set" if self.host is not None else ""),
                hint="name a credential managed by the database, or set host: local for a "
                "local OpenAI or Ollama provider",
            )
        if self.host is not None and self.provider not in ("openai", "ollama"):
            raise self.error(
                f"host: local is supported only for the openai and ollama providers, "
                f"not {self.provider!r}",
                hint="use credential_name for other providers",
            )
