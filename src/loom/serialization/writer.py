"""Turning components into the document pyagentspec writes.

A component used once is written inline. A component used more than once is
written once, in the ``$referenced_components`` of the deepest component that
contains every use, and referenced elsewhere by ``{"$component_ref": id}``.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

from loom.errors import SpecError
from loom.serialization.fields import COMPONENT, field_kinds
from loom.serialization.versions import writing_version
from loom.spec.component import Component
from loom.spec.property import Property
from loom.spec.versions import version_key
from loom.spec.walk import children

REF = "$component_ref"
REFS = "$referenced_components"
BASE_KEYS = ("id", "name", "description", "metadata")


def _common_prefix(paths: list[tuple[str, ...]]) -> tuple[str, ...]:
    first = paths[0]
    length = len(first)
    for other in paths[1:]:
        length = min(length, len(other))
        for index in range(length):
            if first[index] != other[index]:
                length = index
                break
    return first[:length]


class DocumentWriter:
    """Writes one component tree; create one per dump."""

    def __init__(
        self, root: Component, version: str | None = None, include_sensitive: bool = False
    ) -> None:
        self.root = root
        self.version = writing_version(root, version)
        self.include_sensitive = include_sensitive
        self.shared: set[str] = set()
        self.hosted: dict[str, list[Component]] = defaultdict(list)
        self._place_shared_components()

    def _place_shared_components(self) -> None:
        # Users of every component, visiting parents before children (the graph is a DAG).
        users: dict[str, list[str]] = defaultdict(list)
        by_id: dict[str, Component] = {self.root.id: self.root}
        order: list[str] = []
        pending_parents: dict[str, int] = defaultdict(int)
        stack = [self.root]
        seen = {self.root.id}
        while stack:
            component = stack.pop()
            order.append(component.id)
            for _, child in children(component):
                users[child.id].append(component.id)
                pending_parents[child.id] += 1
                if by_id.get(child.id, child) is not child:  # a file names components by id
                    raise SpecError(f"id '{child.id}' is used by two components: "
                                    f"{by_id[child.id].ref} and {child.ref}")
                if child.id not in seen:
                    seen.add(child.id)
                    by_id[child.id] = child
                    stack.append(child)
        # Kahn's algorithm: a component's position is known once all its users' are.
        position: dict[str, tuple[str, ...]] = {self.root.id: ()}
        ready = [self.root.id]
        first_seen = {cid: index for index, cid in enumerate(order)}
        while ready:
            cid = ready.pop()
            for _, child in children(by_id[cid]):
                pending_parents[child.id] -= 1
                if pending_parents[child.id] == 0:
                    uses = [(*position[user], user) for user in users[child.id]]
                    if len(uses) == 1:
                        position[child.id] = uses[0]
                    else:
                        common = _common_prefix(uses)
                        position[child.id] = common
                        self.shared.add(child.id)
                        self.hosted[common[-1]].append(child)
                    ready.append(child.id)
        for host in self.hosted.values():
            host.sort(key=lambda c: first_seen[c.id])

    # -- writing ---------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        data = self.component(self.root, inline=True)
        data["agentspec_version"] = self.version
        return data

    def component(self, component: Component, inline: bool = False) -> dict[str, Any]:
        if not inline and component.id in self.shared:
            return {REF: component.id}
        cls = type(component)
        data: dict[str, Any] = {"component_type": component.component_type}
        for key in BASE_KEYS:
            data[key] = copy.deepcopy(getattr(component, key))
        if cls.__module__ != "loom.spec" and not cls.__module__.startswith("loom."):
            data["component_plugin_name"] = getattr(cls, "plugin_name", cls.__module__)
            data["component_plugin_version"] = getattr(cls, "plugin_version", "0.0.0")
        target = version_key(self.version)
        for key, kind in field_kinds(cls).items():
            if key in BASE_KEYS or key in cls.implied_fields:
                continue
            since = cls.field_versions.get(key)
            if since is not None and version_key(since) > target:
                continue
            value = getattr(component, key)
            if key in cls.sensitive_fields and value and not self.include_sensitive:
                data[key] = {REF: f"{component.id}.{key}"}
            elif kind == COMPONENT:
                data[key] = self.value(value)
            else:
                data[key] = _plain(value)
        hosted = self.hosted.get(component.id)
        if hosted:
            data[REFS] = {child.id: self.component(child, inline=True) for child in hosted}
        return data

    def value(self, value: Any) -> Any:
        if isinstance(value, Component):
            return self.component(value)
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Property):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_none=True)
    return copy.deepcopy(value)
