"""The Agent Spec language as typed models: pure data, no execution."""

from __future__ import annotations

from loom.spec import (
    agents,
    auth,
    datastores,
    llms,
    remote_agents,
    tools,
    transforms,
    transports,
)
from loom.spec.component import (
    COMPONENT_TYPES,
    AgenticComponent,
    Component,
    ComponentWithIO,
)
from loom.spec.flows.edges import ControlFlowEdge, DataFlowEdge
from loom.spec.flows.flow import Flow
from loom.spec.nodes import *  # noqa: F403
from loom.spec.nodes import __all__ as _node_names
from loom.spec.property import (
    AnyProperty,
    BooleanProperty,
    DictProperty,
    FloatProperty,
    IntegerProperty,
    ListProperty,
    NullProperty,
    NumberProperty,
    ObjectProperty,
    Property,
    StringProperty,
    UnionProperty,
)

_FAMILY_MODULES = [tools, llms, transports, agents, remote_agents, datastores, transforms, auth]


def _public_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for module in _FAMILY_MODULES:
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, Component):
                found[name] = value
    return found


_families = _public_classes()
globals().update(_families)


def _rebuild_models() -> None:
    """Resolve the forward references between families (nodes <-> flows <-> agents)."""
    namespace = {**globals(), **_families}
    classes = [value for value in namespace.values() if isinstance(value, type)]
    for cls in classes:
        if issubclass(cls, Component):
            cls.model_rebuild(_types_namespace=namespace)


_rebuild_models()

__all__ = [
    "COMPONENT_TYPES",
    "AgenticComponent",
    "AnyProperty",
    "BooleanProperty",
    "Component",
    "ComponentWithIO",
    "ControlFlowEdge",
    "DataFlowEdge",
    "DictProperty",
    "FloatProperty",
    "Flow",
    "IntegerProperty",
    "ListProperty",
    "NullProperty",
    "NumberProperty",
    "ObjectProperty",
    "Property",
    "StringProperty",
    "UnionProperty",
    *_node_names,
    *sorted(_families),
]
