"""An MCPToolBox's tools: the server's listing, narrowed and amended by ``tool_filter``."""

from __future__ import annotations

from typing import Any

from loom.mcp.calls import McpToolError
from loom.mcp.servers import label
from loom.spec.tools import MCPToolBox, MCPToolSpec


def select(listed: list[dict[str, Any]], box: MCPToolBox, who: str) -> list[dict[str, Any]]:
    """The tools the box exposes, as plain data (journaled): ``name``,
    ``description``, ``input_schema``, ``inputs`` (declared properties or None),
    ``requires_confirmation``."""
    by_name = {entry["name"]: entry for entry in listed}
    chosen = []
    filters: list[str | MCPToolSpec] = (
        list(box.tool_filter) if box.tool_filter is not None else list(by_name)
    )
    for wanted in filters:
        name = wanted if isinstance(wanted, str) else wanted.name
        entry = by_name.get(name)
        if entry is None:
            raise McpToolError(
                f"{who}: {label(box.client_transport)} has no tool '{name}' "
                f"(it has {sorted(by_name)})",
                hint="fix tool_filter, or the server's command/URL",
            )
        tool = {**entry, "inputs": None, "requires_confirmation": box.requires_confirmation}
        if isinstance(wanted, MCPToolSpec):
            tool.update(_amended(wanted, entry, who, box))
        chosen.append(tool)
    return chosen


def _amended(spec: MCPToolSpec, entry: dict[str, Any], who: str, box: MCPToolBox
             ) -> dict[str, Any]:
    """An MCPToolSpec's description, inputs and confirmation over the server's."""
    changes: dict[str, Any] = {}
    if spec.description:
        changes["description"] = spec.description
    if spec.requires_confirmation:
        changes["requires_confirmation"] = True
    if spec.inputs:
        known = set(entry["input_schema"].get("properties") or {})
        unknown = sorted(p.title for p in spec.inputs if p.title not in known)
        if unknown:
            raise McpToolError(
                f"{who}: tool '{spec.name}' of {label(box.client_transport)} has no "
                f"input(s) {unknown} (its inputs are {sorted(known)})",
                hint="the MCPToolSpec's inputs must use the server's parameter names",
            )
        changes["inputs"] = [p.to_dict() for p in spec.inputs]
    return changes
