"""Tools: functions an agent or a ToolNode can call."""

from __future__ import annotations

from typing import ClassVar

from loom.spec.component import Component, ComponentWithIO


class Tool(ComponentWithIO):
    """A callable with typed parameters (inputs) and results (outputs)."""

    abstract = True
    field_versions: ClassVar[dict[str, str]] = {"requires_confirmation": "25.4.2"}

    requires_confirmation: bool = False

    def feature_versions(self) -> list[tuple[str, str]]:
        found = super().feature_versions()
        if self.requires_confirmation:
            found.append(("25.4.2", f"{self.component_type}.requires_confirmation=true"))
        return found


class ServerTool(Tool):
    """Executed by the runtime, bound by name to a function the runtime knows."""


class ClientTool(Tool):
    """Executed by the client: the run pauses until the client sends the result."""


class ToolBox(Component):
    """A source of tools discovered at run time (only usable by agents)."""

    abstract = True
