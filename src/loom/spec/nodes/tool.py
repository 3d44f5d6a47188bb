"""Nodes that call out: ToolNode (a tool) and ApiNode (an HTTP request)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from loom.spec.field_rules import check_disjoint_headers, check_retry_policy, request_placeholders
from loom.spec.nodes.base import Node
from loom.spec.property import AnyProperty, Property, StringProperty
from loom.spec.tools import Tool


class ToolNode(Node):
    """Calls one tool with the node's inputs."""

    tool: Tool

    def infer_inputs(self) -> list[Property]:
        return list(self.tool.inputs or [])

    def infer_outputs(self) -> list[Property]:
        return list(self.tool.outputs or [])


class ApiNode(Node):
    """A templated HTTP call; its response becomes the outputs."""

    sensitive_fields: ClassVar[frozenset[str]] = frozenset({"sensitive_headers"})
    field_versions: ClassVar[dict[str, str]] = {
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

    def infer_outputs(self) -> list[Property]:
        if self.outputs:
            return list(self.outputs)
        return [AnyProperty(title="response")]

    def _check(self) -> None:
        super()._check()
        check_disjoint_headers(self, self.headers, self.sensitive_headers)
        check_retry_policy(self, self.retry_policy)

    def feature_versions(self) -> list[tuple[str, str]]:
        found = super().feature_versions()
        if not isinstance(self.data, dict):
            found.append(("25.4.2", "ApiNode.data that is not an object"))
        if self.sensitive_headers:
            found.append(("25.4.2", "ApiNode.sensitive_headers"))
        if self.url_allow_list is not None:
            found.append(("26.1.2", "ApiNode.url_allow_list"))
        if self.retry_policy is not None:
            found.append(("26.1.2", "ApiNode.retry_policy"))
        return found
