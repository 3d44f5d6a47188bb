"""Tools (functions an agent or a ToolNode can call) and toolboxes (tool sources)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from loom.spec.component import Component, ComponentWithIO
from loom.spec.field_rules import (
    check_disjoint_headers,
    check_retry_policy,
    late_field_gates,
    request_placeholders,
)
from loom.spec.property import Property, StringProperty
from loom.spec.transports import ClientTransport


class Tool(ComponentWithIO):
    """A callable with typed parameters (inputs) and results (outputs)."""

    abstract = True
    field_versions: ClassVar[dict[str, str]] = {"requires_confirmation": "25.4.2"}

    requires_confirmation: bool = False

    def feature_versions(self) -> list[tuple[str, str]]:
        return super().feature_versions() + late_field_gates(self)


class ServerTool(Tool):
    """Executed by the runtime, bound by name to a function the runtime knows."""


class ClientTool(Tool):
    """Executed by the client: the run pauses until the client sends the result."""


class RemoteTool(Tool):
    """A templated HTTP request; the tool's arguments fill the placeholders."""

    sensitive_fields: ClassVar[frozenset[str]] = frozenset({"sensitive_headers"})
    field_versions: ClassVar[dict[str, str]] = {
        "requires_confirmation": "25.4.2",
        "sensitive_headers": "25.4.2",
        "url_allow_list": "26.1.2",
        "retry_policy": "26.1.2",
    }

    url: str
    http_method: str
    api_spec_uri: str | None = None
    data: Any = Field(default_factory=dict)
    query_params: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, Any] = Field(default_factory=dict)
    sensitive_headers: dict[str, Any] | None = Field(default_factory=dict)
    url_allow_list: list[str] | None = None
    retry_policy: dict[str, Any] | None = None

    def infer_inputs(self) -> list[Property]:
        names = request_placeholders(self)
        return [StringProperty(title=name) for name in names]

    def _check(self) -> None:
        super()._check()
        check_disjoint_headers(self, self.headers, self.sensitive_headers)
        check_retry_policy(self, self.retry_policy)

    def feature_versions(self) -> list[tuple[str, str]]:
        found = super().feature_versions()
        if not (isinstance(self.data, dict) and all(isinstance(k, str) for k in self.data)):
            found.append(("25.4.2", "RemoteTool.data that is not a string-keyed object"))
        return found


class BuiltinTool(Tool):
    """A tool implemented by the runtime itself, identified by ``tool_type``."""

    min_agentspec_version: ClassVar[str] = "25.4.2"

    tool_type: str
    configuration: dict[str, Any] | None = None
    executor_name: str | list[str] | None = None
    tool_version: str | None = None


_MCP_RETRY = "26.3.1"  # retry_policy on MCP tools and toolboxes: left out of older documents


class MCPTool(Tool):
    """One tool of an MCP server; its inputs and outputs are declared by the author.

    ``retry_policy`` is the semantic retry of resolving and calling the tool (its
    attempt and backoff fields); HTTP retries belong to the transport's policy.
    """

    field_versions: ClassVar[dict[str, str]] = {
        "requires_confirmation": "25.4.2",
        "retry_policy": _MCP_RETRY,
    }

    client_transport: ClientTransport
    retry_policy: dict[str, Any] | None = None

    def _check(self) -> None:
        super()._check()
        check_retry_policy(self, self.retry_policy)


class MCPToolSpec(ComponentWithIO):
    """The expected signature of one MCP tool, used in an MCPToolBox's ``tool_filter``."""

    field_versions: ClassVar[dict[str, str]] = {"requires_confirmation": "25.4.2"}

    requires_confirmation: bool = False

    def _check(self) -> None:
        super()._check()
        outputs = self.outputs or []
        if len(outputs) > 1 or (outputs and outputs[0].type != "string"):
            raise self.error(
                "an MCP tool returns one text result: outputs may only be one string property",
                hint="declare at most one output, of type string (its title names the result)",
            )

    def feature_versions(self) -> list[tuple[str, str]]:
        return super().feature_versions() + late_field_gates(self)


class ToolBox(Component):
    """A source of tools discovered at run time (only usable by agents)."""

    abstract = True
    field_versions: ClassVar[dict[str, str]] = {"requires_confirmation": "26.1.2"}

    requires_confirmation: bool = False

    def feature_versions(self) -> list[tuple[str, str]]:
        return super().feature_versions() + late_field_gates(self)


class MCPToolBox(ToolBox):
    """The tools of an MCP server, all of them or those named in ``tool_filter``;
    ``retry_policy`` as for MCPTool (discovery and the calls of its tools)."""

    field_versions: ClassVar[dict[str, str]] = {
        "requires_confirmation": "26.1.2",
        "retry_policy": _MCP_RETRY,
    }

    client_transport: ClientTransport
    retry_policy: dict[str, Any] | None = None
    tool_filter: list[str | MCPToolSpec] | None = None

    def _check(self) -> None:
        super()._check()
        check_retry_policy(self, self.retry_policy)
        seen: set[str] = set()
        for entry in self.tool_filter or []:
            name = entry if isinstance(entry, str) else entry.name
            if name in seen:
                raise self.error(
                    f"tool '{name}' is listed more than once in tool_filter",
                    hint="name each tool of the server once",
                )
            seen.add(name)

    def filter_names(self) -> list[str] | None:
        """Names of the tools to expose, or ``None`` for every tool of the server."""
        if self.tool_filter is None:
            return None
        return [entry if isinstance(entry, str) else entry.name for entry in self.tool_filter]
