"""Flow: a graph of nodes joined by control and data edges."""

from __future__ import annotations

import warnings

from loom.errors import LoomWarning
from loom.spec.component import AgenticComponent
from loom.spec.flows.checks import check_flow
from loom.spec.flows.edges import ControlFlowEdge, DataFlowEdge
from loom.spec.nodes.base import NEXT, EndNode, Node
from loom.spec.property import Property, by_title
from loom.spec.types import same_type


class Flow(AgenticComponent):
    """Runs one node at a time from ``start_node`` until an EndNode is reached."""

    start_node: Node
    nodes: list[Node]
    control_flow_connections: list[ControlFlowEdge]
    data_flow_connections: list[DataFlowEdge] | None = None

    @property
    def end_nodes(self) -> list[EndNode]:
        return [node for node in self.nodes if isinstance(node, EndNode)]

    @property
    def branch_names(self) -> list[str]:
        """The outcomes this flow can end with (its EndNodes' branch names)."""
        return sorted({end.branch_name for end in self.end_nodes}) or [NEXT]

    def infer_inputs(self) -> list[Property]:
        return list(self.start_node.inputs or [])

    def infer_outputs(self) -> list[Property]:
        if self.outputs is not None:
            return list(self.outputs)
        ends = self.end_nodes
        if not ends:
            return []
        common = set(by_title(ends[0].outputs))
        for end in ends[1:]:
            common &= set(by_title(end.outputs))
        return [prop for prop in ends[0].outputs or [] if prop.title in common]

    def _check(self) -> None:
        self.nodes = list({node.id: node for node in self.nodes}.values())
        for message in check_flow(self):
            warnings.warn(f"{self.ref}: {message}", LoomWarning, stacklevel=2)
        super()._check()
        self._check_outputs()

    def _check_outputs(self) -> None:
        ends = self.end_nodes
        seen: dict[str, tuple[EndNode, Property]] = {}
        for end in ends:
            for prop in end.outputs or []:
                first = seen.setdefault(prop.title, (end, prop))
                if not same_type(first[1].json_schema, prop.json_schema):
                    raise self.error(
                        f"EndNodes '{first[0].name}' and '{end.name}' give output "
                        f"'{prop.title}' different types",
                        hint="an output must have one type across all EndNodes",
                    )
        end_outputs = [(end, by_title(end.outputs)) for end in ends]
        for prop in self.outputs or []:
            if prop.has_default:
                continue
            for end, produced in end_outputs:
                found = produced.get(prop.title)
                if found is None:
                    raise self.error(
                        f"flow output '{prop.title}' is not produced by EndNode '{end.name}' "
                        "and has no default",
                        hint=f"add '{prop.title}' to that EndNode or give the flow output a default",
                    )
                if not same_type(found.json_schema, prop.json_schema):
                    raise self.error(
                        f"flow output '{prop.title}' has another type in EndNode '{end.name}'",
                        hint="declare the same type in both places",
                    )
