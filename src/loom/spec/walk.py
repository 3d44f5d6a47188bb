"""Walking the component graph: children of a component, and every component once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from loom.spec.component import Component


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
    for name in type(component).model_fields:
        value = getattr(component, name)
        if isinstance(value, (Component, list, tuple, dict)):
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
