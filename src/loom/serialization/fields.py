"""What each field of a component class holds, read once from its annotations.

The loader needs to know whether a field holds components (to resolve
references and build them) or plain values (copied as they are).
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any

from loom.spec.component import Component
from loom.spec.walk import mentions_component

COMPONENT = "component"
PLAIN = "plain"


@functools.cache
def field_kinds(cls: type[Component]) -> dict[str, str]:
    """Field name -> COMPONENT or PLAIN, in declaration order."""
    return {
        name: COMPONENT if mentions_component(info.annotation) else PLAIN
        for name, info in cls.model_fields.items()
    }


def _is_single_component(annotation: Any) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, Component)
    if typing.get_origin(annotation) is typing.Union or isinstance(annotation, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return bool(args) and all(_is_single_component(arg) for arg in args)
    return False


@functools.cache
def single_component_fields(cls: type[Component]) -> frozenset[str]:
    """Fields that hold exactly one component (or null), not a list or map of them."""
    return frozenset(
        name for name, info in cls.model_fields.items() if _is_single_component(info.annotation)
    )


# Keys a component object may carry that are not fields.
STRUCTURAL_KEYS = frozenset(
    {
        "component_type",
        "$referenced_components",
        "agentspec_version",
        "air_version",
        "component_plugin_name",
        "component_plugin_version",
        "min_agentspec_version",
    }
)
