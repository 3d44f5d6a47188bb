"""Nodes that run other components: FlowNode, MapNode, ParallelMapNode,
ParallelFlowNode, CatchExceptionNode and AgentNode."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from loom.spec.component import AgenticComponent
from loom.spec.nodes.base import NEXT, Node
from loom.spec.property import ListProperty, Property, UnionProperty
from loom.spec.types import same_type

if TYPE_CHECKING:
    from loom.spec.flows.flow import Flow

Reducer = Literal["append", "sum", "average", "max", "min"]
NUMERIC_REDUCERS = ("sum", "average", "max", "min")
CAUGHT_EXCEPTION_BRANCH = "caught_exception_branch"
CAUGHT_EXCEPTION_INFO = "caught_exception_info"
ITERATED = "iterated_"
COLLECTED = "collected_"


class FlowNode(Node):
    """Runs ``subflow`` as if it were inlined; takes the branch its EndNode names."""

    subflow: Flow

    def infer_inputs(self) -> list[Property]:
        return list(self.subflow.inputs or [])

    def infer_outputs(self) -> list[Property]:
        return list(self.subflow.outputs or [])

    def infer_branches(self) -> list[str]:
        return self.subflow.branch_names


class MapNode(Node):
    """Runs ``subflow`` once per element of its ``iterated_*`` inputs, in order,
    and folds each reduced output into ``collected_*``."""

    subflow: Flow
    reducers: dict[str, Reducer] | None = None

    def _check(self) -> None:
        outputs = {p.title: p for p in self.subflow.outputs or []}
        if self.reducers is None:
            self.reducers = {title: "append" for title in outputs}
        for title, method in self.reducers.items():
            prop = outputs.get(title)
            if prop is None:
                raise self.error(
                    f"reducer for '{title}': the subflow has no output '{title}'",
                    hint=f"reducer keys are subflow output names: {sorted(outputs)}",
                )
            kind = prop.json_schema.get("type")
            if method in NUMERIC_REDUCERS and kind not in ("integer", "number"):
                raise self.error(
                    f"reducer '{method}' needs a numeric output, but '{title}' is {kind}",
                    hint="use 'append' or make the output a number",
                )
        super()._check()

    def infer_inputs(self) -> list[Property]:
        return [
            UnionProperty(
                title=ITERATED + prop.title,
                any_of=[prop.json_schema, ListProperty(title=prop.title, item_type=prop)],
            )
            for prop in self.subflow.inputs or []
        ]

    def infer_outputs(self) -> list[Property]:
        outputs = {p.title: p for p in self.subflow.outputs or []}
        result: list[Property] = []
        for title, method in (self.reducers or {}).items():
            prop = outputs[title]
            if method == "append":
                result.append(ListProperty(title=COLLECTED + title, item_type=prop))
            else:
                result.append(prop.with_title(COLLECTED + title))
        return result


class ParallelMapNode(MapNode):
    """MapNode whose iterations run concurrently; results keep input order."""

    min_agentspec_version: ClassVar[str] = "25.4.2"


class ParallelFlowNode(Node):
    """Runs every subflow at once and merges their outputs."""

    min_agentspec_version: ClassVar[str] = "25.4.2"

    subflows: list[Flow] = Field(default_factory=list)

    def infer_inputs(self) -> list[Property]:
        if self.inputs is not None:
            return list(self.inputs)
        merged: dict[str, Property] = {}
        for flow in self.subflows:
            for prop in flow.inputs or []:
                merged.setdefault(prop.title, prop)
        return list(merged.values())

    def infer_outputs(self) -> list[Property]:
        if self.outputs is not None:
            return list(self.outputs)
        return [prop for flow in self.subflows for prop in flow.outputs or []]

    def _check(self) -> None:
        first_input: dict[str, tuple[Flow, Property]] = {}
        first_output: dict[str, Flow] = {}
        for flow in self.subflows:
            for prop in flow.inputs or []:
                owner, seen = first_input.setdefault(prop.title, (flow, prop))
                if not same_type(seen.json_schema, prop.json_schema):
                    raise self.error(
                        f"subflows '{owner.name}' and '{flow.name}' both take input "
                        f"'{prop.title}' with different types",
                        hint="same-named inputs are shared, so they must have one type",
                    )
            for prop in flow.outputs or []:
                if prop.title in first_output:
                    raise self.error(
                        f"subflows '{first_output[prop.title].name}' and '{flow.name}' both "
                        f"produce output '{prop.title}'",
                        hint="rename one of the outputs: merged outputs must be unique",
                    )
                first_output[prop.title] = flow
        super()._check()


class CatchExceptionNode(Node):
    """Runs ``subflow``; on failure takes ``caught_exception_branch`` with defaults."""

    min_agentspec_version: ClassVar[str] = "26.1.2"

    subflow: Flow

    def infer_inputs(self) -> list[Property]:
        return list(self.subflow.inputs or [])

    def infer_outputs(self) -> list[Property]:
        if self.outputs is not None:
            return list(self.outputs)
        info = UnionProperty(
            title=CAUGHT_EXCEPTION_INFO, any_of=[{"type": "string"}, {"type": "null"}], default=None
        )
        return [*(self.subflow.outputs or []), info]

    def infer_branches(self) -> list[str]:
        return sorted({CAUGHT_EXCEPTION_BRANCH, *self.subflow.branch_names})

    def _check(self) -> None:
        if CAUGHT_EXCEPTION_BRANCH in self.subflow.branch_names:
            raise self.error(
                f"the subflow may not end with branch '{CAUGHT_EXCEPTION_BRANCH}'",
                hint="rename that EndNode's branch_name",
            )
        if any(p.title == CAUGHT_EXCEPTION_INFO for p in self.subflow.outputs or []):
            raise self.error(
                f"the subflow may not produce an output named '{CAUGHT_EXCEPTION_INFO}'",
                hint="rename that output",
            )
        if self.outputs is not None:
            expected = {p.title for p in self.subflow.outputs or []} | {CAUGHT_EXCEPTION_INFO}
            if {p.title for p in self.outputs} != expected:
                raise self.error(
                    f"outputs must be the subflow's outputs plus '{CAUGHT_EXCEPTION_INFO}'",
                    hint=f"declare exactly {sorted(expected)}",
                )
        super()._check()
        missing = [p.title for p in self.outputs or [] if not p.has_default]
        if missing:
            raise self.error(
                f"outputs {missing} have no default, but a caught exception needs one for "
                "every output",
                hint="give each subflow output a default",
            )


class AgentNode(Node):
    """Runs an agent (or any agentic component) inside a flow."""

    agent: AgenticComponent

    def infer_inputs(self) -> list[Property]:
        return list(self.agent.inputs or [])

    def infer_outputs(self) -> list[Property]:
        return list(self.agent.outputs or [])

    def infer_branches(self) -> list[str]:
        return list(self.branches) if self.branches else [NEXT]

    def _accepts_any_branches(self) -> bool:
        return True
