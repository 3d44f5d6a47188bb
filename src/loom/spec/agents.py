"""Agents and multi-agent components: Agent, SpecializedAgent, Swarm, ManagerWorkers."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field, field_validator

from loom.errors import LoomWarning
from loom.spec.component import AgenticComponent, ComponentWithIO
from loom.spec.field_rules import check_choice, late_field_gates
from loom.spec.llms import LlmConfig
from loom.spec.property import Property, StringProperty
from loom.spec.templates import placeholders
from loom.spec.tools import Tool, ToolBox
from loom.spec.transforms import MessageTransform
from loom.spec.types import describe_type, same_type

HANDOFF_MODES: tuple[str, ...] = ("never", "optional", "always")


def _warn_duplicate_tools(component: ComponentWithIO, tools: list[Tool]) -> None:
    names = [tool.name for tool in tools]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        warnings.warn(
            f"{component.ref}: several tools are named {duplicates}; the LLM cannot tell them "
            "apart (rename them)",
            LoomWarning,
            stacklevel=3,
        )


class Agent(AgenticComponent):
    """A conversational agent: an LLM that uses tools until its task is done.

    Its inputs are the placeholders of ``system_prompt``; non-empty ``outputs``
    ask for structured results before it finishes.
    """

    field_versions: ClassVar[dict[str, str]] = {
        "toolboxes": "25.4.2",
        "human_in_the_loop": "25.4.2",
        "transforms": "26.1.2",
    }

    llm_config: LlmConfig
    system_prompt: str
    tools: list[Tool] = Field(default_factory=list)
    toolboxes: list[ToolBox] = Field(default_factory=list)
    human_in_the_loop: bool = True
    transforms: list[MessageTransform] = Field(default_factory=list)

    def infer_inputs(self) -> list[Property]:
        return [StringProperty(title=name) for name in placeholders(self.system_prompt)]

    def _check(self) -> None:
        super()._check()
        _warn_duplicate_tools(self, self.tools)

    @property
    def has_structured_outputs(self) -> bool:
        return bool(self.outputs)

    def feature_versions(self) -> list[tuple[str, str]]:
        return super().feature_versions() + late_field_gates(self)


class AgentSpecializationParameters(ComponentWithIO):
    """What a SpecializedAgent adds to its base agent: instructions, tools, HITL override."""

    min_agentspec_version: ClassVar[str] = "25.4.2"

    additional_instructions: str | None = None
    additional_tools: list[Tool] | None = None
    human_in_the_loop: bool | None = None

    def infer_inputs(self) -> list[Property]:
        return [StringProperty(title=name) for name in placeholders(self.additional_instructions)]

    def infer_outputs(self) -> list[Property]:
        return []

    def _check(self) -> None:
        if self.outputs:
            raise self.error(
                "specialization parameters have no outputs",
                hint="declare outputs on the base Agent instead",
            )
        super()._check()


def _merge_by_title(
    owner: ComponentWithIO, kind: str, groups: list[tuple[str, list[Property]]]
) -> list[Property]:
    """Union of property lists; a title seen twice must have the same type."""
    merged: dict[str, tuple[str, Property]] = {}
    for source, props in groups:
        for prop in props:
            first = merged.setdefault(prop.title, (source, prop))
            if not same_type(first[1].json_schema, prop.json_schema):
                raise owner.error(
                    f"{kind} '{prop.title}' is {describe_type(first[1].json_schema)} in "
                    f"{first[0]} but {describe_type(prop.json_schema)} in {source}",
                    hint=f"give '{prop.title}' the same type in both, or rename one of them",
                )
    return [prop for _, prop in merged.values()]


class SpecializedAgent(AgenticComponent):
    """An existing Agent specialized for a task by AgentSpecializationParameters."""

    min_agentspec_version: ClassVar[str] = "25.4.2"

    agent: Agent
    agent_specialization_parameters: AgentSpecializationParameters

    def infer_inputs(self) -> list[Property]:
        return _merge_by_title(
            self,
            "input",
            [
                (f"agent '{self.agent.name}'", list(self.agent.inputs or [])),
                (
                    f"specialization parameters '{self.agent_specialization_parameters.name}'",
                    list(self.agent_specialization_parameters.inputs or []),
                ),
            ],
        )

    def infer_outputs(self) -> list[Property]:
        return list(self.agent.outputs or [])

    def _check(self) -> None:
        super()._check()
        _warn_duplicate_tools(self, self.tools)

    @property
    def tools(self) -> list[Tool]:
        """The base agent's tools followed by the additional ones."""
        return list(self.agent.tools) + list(
            self.agent_specialization_parameters.additional_tools or []
        )

    @property
    def human_in_the_loop(self) -> bool:
        override = self.agent_specialization_parameters.human_in_the_loop
        return self.agent.human_in_the_loop if override is None else override


class Swarm(AgenticComponent):
    """Agents that message or hand the conversation over along declared relationships."""

    min_agentspec_version: ClassVar[str] = "25.4.2"

    first_agent: AgenticComponent
    # [caller, recipient] pairs; tuples are accepted and stored as lists.
    relationships: list[Sequence[AgenticComponent]]
    handoff: str = "optional"

    @field_validator("handoff", mode="before")
    @classmethod
    def _handoff_from_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            mode = "optional" if value else "never"
            warnings.warn(
                f'Swarm.handoff={str(value).lower()} is deprecated; write handoff: "{mode}"',
                LoomWarning,
                stacklevel=2,
            )
            return mode
        return value

    def _check(self) -> None:
        super()._check()
        self.relationships = [list(pair) for pair in self.relationships]
        check_choice(self, "handoff", self.handoff, HANDOFF_MODES)
        if not self.relationships:
            raise self.error(
                "a Swarm needs at least one relationship",
                hint="add [caller, recipient] pairs, or use a single Agent instead",
            )
        for index, pair in enumerate(self.relationships):
            if len(pair) != 2:
                raise self.error(
                    f"relationship {index} has {len(pair)} agent(s), not 2",
                    hint="write each relationship as [caller, recipient]",
                )
            if pair[0] is pair[1] or pair[0].id == pair[1].id:
                raise self.error(
                    f"relationship {index} links '{pair[0].name}' to itself",
                    hint="a relationship lets one agent involve another one",
                )

    @property
    def agents(self) -> list[AgenticComponent]:
        """Every agent of the swarm, first_agent first, each once."""
        found = {self.first_agent.id: self.first_agent}
        for pair in self.relationships:
            for agent in pair:
                found.setdefault(agent.id, agent)
        return list(found.values())

    def recipients(self, caller: AgenticComponent) -> list[AgenticComponent]:
        """The agents ``caller`` may involve."""
        return [pair[1] for pair in self.relationships if pair[0].id == caller.id]


class ManagerWorkers(AgenticComponent):
    """A manager agent that talks to the user and delegates tasks to worker agents."""

    min_agentspec_version: ClassVar[str] = "25.4.2"

    group_manager: AgenticComponent
    workers: list[AgenticComponent]

    def _check(self) -> None:
        super()._check()
        if not self.workers:
            raise self.error(
                "a ManagerWorkers needs at least one worker",
                hint="add agents to 'workers', or use a single Agent instead",
            )
        if any(worker.id == self.group_manager.id for worker in self.workers):
            raise self.error(
                f"the group manager '{self.group_manager.name}' is also listed as a worker",
                hint="remove it from 'workers'",
            )
