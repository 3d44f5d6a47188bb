"""The components a server serves: every config of its directory, by file stem."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loom.errors import LoadError, LoomError
from loom.observability.graph import build_graph, to_mermaid
from loom.runtime import Runtime
from loom.serialization import load, to_dict
from loom.spec.component import Component
from loom.spec.flows.flow import Flow
from loom.spec.property import Property

SUFFIXES = (".json", ".yaml", ".yml")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Served:
    """One component: as written (for its document and graph) and as the flow it runs."""

    id: str
    component: Component
    flow: Flow
    path: Path | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id, "component_type": self.component.component_type,
            "name": self.component.name, "inputs": object_schema(self.flow.inputs or []),
            "outputs": object_schema(self.flow.outputs or []),
        }

    def document(self) -> dict[str, Any]:
        """The component as JSON, its secrets (api keys, sensitive headers) left out."""
        return to_dict(self.component)

    def graph(self, mermaid: bool = False, data: bool = False) -> Any:
        """Its graph as JSON (or Mermaid text); ``data``: with the data edges too."""
        graph = build_graph(self.component, data=data)
        if mermaid:
            return to_mermaid(graph)
        return {
            "title": graph.title,
            "nodes": [dataclasses.asdict(node) for node in graph.nodes.values()],
            "edges": [dataclasses.asdict(edge) for edge in graph.edges],
            "clusters": dataclasses.asdict(graph.root),
        }


def object_schema(properties: list[Property]) -> dict[str, Any]:
    """A flow's inputs or outputs as one JSON Schema object."""
    return {
        "type": "object",
        "properties": {prop.title: dict(prop.json_schema) for prop in properties},
        "required": [prop.title for prop in properties if not prop.has_default],
    }


class Catalog:
    """Components by id, checked once at start (every ServerTool bound, every flow
    compiles, every component type admitted by the runtime's load policy): a config
    the server cannot run stops it from starting."""

    def __init__(self, served: Mapping[str, Served]) -> None:
        self.served = dict(served)

    @classmethod
    def from_directory(cls, directory: Path, runtime: Runtime) -> Catalog:
        if not directory.is_dir():
            raise LoadError(f"{directory} is not a directory",
                               hint="give the directory that holds the configs to serve")
        served: dict[str, Served] = {}
        for path in sorted(directory.iterdir()):
            if path.suffix not in SUFFIXES or not path.is_file():
                continue
            if not _ID.match(path.stem):
                raise LoadError(f"{path.name}: its stem is no usable id",
                                   hint="name the file with letters, digits, '.', '_', '-'")
            if path.stem in served:
                raise LoadError(f"{path.name}: the id '{path.stem}' is taken by another "
                                   "file of the directory", hint="rename one of them")
            try:
                component = load(path, registry=runtime.registry, **runtime.load_policy)
            except LoomError as exc:
                raise LoadError(f"{path.name}: {exc.describe()}") from None
            served[path.stem] = cls.check(path.stem, component, runtime, path)
        return cls(served)

    @staticmethod
    def check(component_id: str, component: Component, runtime: Runtime,
              path: Path | None = None) -> Served:
        try:
            flow = runtime.load(component)
            runtime.compile(flow)
        except LoomError as exc:
            where = path.name if path else component_id
            raise LoadError(f"{where}: {exc.describe()}") from None
        return Served(component_id, component, flow, path)

    def get(self, component_id: str) -> Served | None:
        return self.served.get(component_id)

    def __iter__(self) -> Any:
        return iter(self.served.values())
