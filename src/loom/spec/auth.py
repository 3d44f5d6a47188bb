"""Authentication settings for remote transports and tools (OAuth 2.x, 26.1.2).

``OAuthEndpoints`` and ``PKCEPolicy`` are plain nested objects (dicts here), not
components: they have no ``component_type`` or ``id``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from loom.spec.component import Component
from loom.spec.field_rules import check_choice, check_plain_object, drop_implied

CLIENT_TYPES: tuple[str, ...] = (
    "pre_registered",
    "client_id_metadata_document",
    "dynamic_registration",
)
SCOPE_POLICIES: tuple[str, ...] = ("use_challenge_or_supported", "fixed")
PKCE_METHODS: tuple[str, ...] = ("S256", "plain")
ENDPOINT_KEYS: tuple[str, ...] = (
    "authorization_endpoint",
    "token_endpoint",
    "refresh_endpoint",
    "revocation_endpoint",
    "userinfo_endpoint",
)
PKCE_DEFAULTS: dict[str, Any] = {"required": True, "method": "S256"}


# The SDK writes a ``min_agentspec_version`` key on OAuthConfig and
# OAuthClientConfig: accepted on input, ignored, never written back.
_MIN_VERSION_KEY: frozenset[str] = frozenset({"min_agentspec_version"})


class AuthConfig(Component):
    """How a client authenticates to a remote server."""

    abstract = True


class OAuthClientConfig(Component):
    """The OAuth client's identity and how it was registered."""

    min_agentspec_version: ClassVar[str] = "26.1.2"
    implied_fields: ClassVar[frozenset[str]] = _MIN_VERSION_KEY
    sensitive_fields: ClassVar[frozenset[str]] = frozenset(
        {"client_id", "client_secret", "client_id_metadata_url"}
    )

    type: str
    client_id: str | None = None
    client_secret: str | None = None
    token_endpoint_auth_method: str | None = None
    client_id_metadata_url: str | None = None
    registration_endpoint: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_implied(cls, data: Any) -> Any:
        return drop_implied(data, cls.implied_fields, cls.model_fields)

    def _check(self) -> None:
        super()._check()
        check_choice(self, "type", self.type, CLIENT_TYPES)


class OAuthConfig(AuthConfig):
    """OAuth 2.x settings: discovery or explicit endpoints, client, redirect, scopes, PKCE."""

    min_agentspec_version: ClassVar[str] = "26.1.2"
    implied_fields: ClassVar[frozenset[str]] = _MIN_VERSION_KEY

    issuer: str | None = None
    endpoints: dict[str, Any] | None = None
    client: OAuthClientConfig
    redirect_uri: str
    scopes: str | list[str] | None = None
    scope_policy: str | None = None
    pkce: dict[str, Any] | None = None
    resource: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_implied(cls, data: Any) -> Any:
        return drop_implied(data, cls.implied_fields, cls.model_fields)

    def _check(self) -> None:
        super()._check()
        check_plain_object(
            self,
            "endpoints",
            self.endpoints,
            required=("authorization_endpoint", "token_endpoint"),
            allowed=ENDPOINT_KEYS,
            strings=ENDPOINT_KEYS,
        )
        check_choice(self, "scope_policy", self.scope_policy, SCOPE_POLICIES, allow_none=True)
        check_plain_object(self, "pkce", self.pkce, allowed=tuple(PKCE_DEFAULTS))
        if self.pkce is not None:
            if not isinstance(self.pkce.get("required", True), bool):
                raise self.error(
                    f"pkce.required must be true or false, got {self.pkce['required']!r}",
                    hint="write true (PKCE mandatory) or false",
                )
            check_choice(self, "pkce.method", self.pkce.get("method", "S256"), PKCE_METHODS)

    @property
    def pkce_policy(self) -> dict[str, Any] | None:
        """The PKCE policy with its defaults filled in (``None`` when not configured)."""
        return None if self.pkce is None else {**PKCE_DEFAULTS, **self.pkce}
