"""Agents executed outside the runtime: OCI Generative AI Agents and A2A agents.

``A2AAgent.session_parameters`` (A2ASessionParameters) is a plain object, kept
as a dict.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from loom.spec.component import AgenticComponent, Component
from loom.spec.field_rules import check_number, check_retry_policy, late_field_gates
from loom.spec.llms import OciClientConfig

A2A_SESSION_DEFAULTS: dict[str, Any] = {"timeout": 60.0, "poll_interval": 2.0, "max_retries": 5}


def _a2a_session_defaults() -> dict[str, Any]:
    return dict(A2A_SESSION_DEFAULTS)


class RemoteAgent(AgenticComponent):
    """An agent hosted elsewhere; its inputs and outputs are declared by the author."""

    abstract = True


class OciAgent(RemoteAgent):
    """An agent of OCI Generative AI Agents, reached through its endpoint id."""

    field_versions: ClassVar[dict[str, str]] = {"retry_policy": "26.1.2"}

    agent_endpoint_id: str
    client_config: OciClientConfig
    retry_policy: dict[str, Any] | None = None

    def _check(self) -> None:
        super()._check()
        check_retry_policy(self, self.retry_policy)

    def feature_versions(self) -> list[tuple[str, str]]:
        return super().feature_versions() + late_field_gates(self)


class A2AConnectionConfig(Component):
    """HTTP, TLS and retry settings for talking to an A2A agent."""

    min_agentspec_version: ClassVar[str] = "25.4.2"
    field_versions: ClassVar[dict[str, str]] = {"retry_policy": "26.1.2"}

    timeout: float = 600.0
    headers: dict[str, str] | None = None
    verify: bool = True
    key_file: str | None = None
    cert_file: str | None = None
    ssl_ca_cert: str | None = None
    retry_policy: dict[str, Any] | None = None

    def _check(self) -> None:
        super()._check()
        check_number(self, "timeout", self.timeout, minimum=0, exclusive=True)
        check_retry_policy(self, self.retry_policy)

    def feature_versions(self) -> list[tuple[str, str]]:
        return super().feature_versions() + late_field_gates(self)


class A2AAgent(RemoteAgent):
    """A remote agent reached through the Agent-to-Agent (A2A) protocol."""

    min_agentspec_version: ClassVar[str] = "25.4.2"

    agent_url: str
    connection_config: A2AConnectionConfig
    session_parameters: dict[str, Any] = Field(default_factory=_a2a_session_defaults)

    def _check(self) -> None:
        super()._check()
        params = self.session_parameters
        for key in ("timeout", "poll_interval"):
            if key in params:
                check_number(
                    self, f"session_parameters.{key}", params[key], minimum=0, exclusive=True
                )
        if "max_retries" in params:
            check_number(
                self,
                "session_parameters.max_retries",
                params["max_retries"],
                minimum=0,
                integer=True,
            )

    @property
    def session_settings(self) -> dict[str, Any]:
        """The session parameters with their defaults filled in."""
        return {**A2A_SESSION_DEFAULTS, **self.session_parameters}
