"""MCP client transports: how loom reaches an MCP server.

``session_parameters`` is a plain object (no ``component_type``), kept as a dict.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from loom.spec.auth import AuthConfig
from loom.spec.component import Component
from loom.spec.field_rules import (
    check_disjoint_headers,
    check_number,
    check_retry_policy,
    late_field_gates,
)

SESSION_DEFAULTS: dict[str, Any] = {"read_timeout_seconds": 60.0}


# Client key, certificate and CA bundle (PEM paths) of the mTLS transports are secrets.
_MTLS_SECRETS: frozenset[str] = frozenset({"sensitive_headers", "key_file", "cert_file", "ca_file"})


def _session_defaults() -> dict[str, Any]:
    return dict(SESSION_DEFAULTS)


class ClientTransport(Component):
    """A way to connect to an MCP server."""

    abstract = True

    session_parameters: dict[str, Any] = Field(default_factory=_session_defaults)

    def _check(self) -> None:
        super()._check()
        if "read_timeout_seconds" in self.session_parameters:
            check_number(
                self,
                "session_parameters.read_timeout_seconds",
                self.session_parameters["read_timeout_seconds"],
                minimum=0,
                exclusive=True,
            )

    @property
    def read_timeout_seconds(self) -> float:
        return float(self.session_parameters.get("read_timeout_seconds", 60.0))

    def feature_versions(self) -> list[tuple[str, str]]:
        return super().feature_versions() + late_field_gates(self)


class StdioTransport(ClientTransport):
    """Spawns the MCP server as a local subprocess and talks over stdin/stdout.

    Loading one from an untrusted file runs a local command: loaders should block
    this type unless the caller allows it.
    """

    command: str
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: str | None = None

    def _check(self) -> None:
        super()._check()
        if not self.command.strip():
            raise self.error("command is empty", hint="give the executable to start")


class RemoteTransport(ClientTransport):
    """An MCP server reached over HTTP."""

    abstract = True
    sensitive_fields: ClassVar[frozenset[str]] = frozenset({"sensitive_headers"})
    field_versions: ClassVar[dict[str, str]] = {
        "auth": "26.1.2",
        "sensitive_headers": "25.4.2",
        "retry_policy": "26.1.2",
    }

    url: str
    auth: AuthConfig | None = None
    headers: dict[str, str] | None = None
    sensitive_headers: dict[str, str] | None = None
    retry_policy: dict[str, Any] | None = None

    def _check(self) -> None:
        super()._check()
        check_disjoint_headers(self, self.headers, self.sensitive_headers)
        check_retry_policy(self, self.retry_policy)


class SSETransport(RemoteTransport):
    """MCP over Server-Sent Events."""


class SSEmTLSTransport(SSETransport):
    """MCP over Server-Sent Events with client certificates (mutual TLS)."""

    sensitive_fields: ClassVar[frozenset[str]] = _MTLS_SECRETS

    key_file: str
    cert_file: str
    ca_file: str


class StreamableHTTPTransport(RemoteTransport):
    """MCP over Streamable HTTP."""


class StreamableHTTPmTLSTransport(StreamableHTTPTransport):
    """MCP over Streamable HTTP with client certificates (mutual TLS)."""

    sensitive_fields: ClassVar[frozenset[str]] = _MTLS_SECRETS

    key_file: str
    cert_file: str
    ca_file: str
