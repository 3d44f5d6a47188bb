"""Walking the component graph: children of a component, and every component once."""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Iterator
from typing import Any

from loom.spec.component import Component


def mentions_component(annotation: Any) -> bool:
    """True when a field annotation can hold components (directly, in a list, a map...)."""
    if isinstance(annotation, type):
        return issubclass(annotation, Component)
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return False
    return any(mentions_component(arg) for arg in typing.get_args(annotation))


@functools.cache
def component_fields(cls: type[Component]) -> tuple[str, ...]:
    """The fields of ``cls`` that can hold components, in declaration order."""
    return tuple(
        name for name, info in cls.model_fields.items() if mentions_component(info.annotation)
    )


def child_components(value: Any) -> Iterator[Component]:
    """Components directly inside a field value (lists and dicts searched)."""
    if isinstance(value, Component):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from child_components(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from child_components(item)


def children(component: Component) -> Iterator[tuple[str, Component]]:
    """(field name, child) for every component held by ``component``'s fields."""
    for name in component_fields(type(component)):
        value = getattr(component, name)
        if isinstance(value, Component):
            yield name, value
        elif value:
            for child in child_components(value):
                yield name, child


def walk(root: Component) -> Iterator[Component]:
    """Every component reachable from ``root``, each once, parents first."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        component = stack.pop()
        if id(component) in seen:
            continue
        seen.add(id(component))
        yield component
        stack.extend(reversed([child for _, child in children(component)]))


def sensitive_values(root: Component) -> dict[str, Any]:
    """``{"<id>.<field>": value}`` of every sensitive field that holds a value: the
    references a document written without secrets puts in their place."""
    return {
        f"{component.id}.{name}": value
        for component in walk(root)
        for name in sorted(type(component).sensitive_fields)
        if (value := getattr(component, name, None))
    }
