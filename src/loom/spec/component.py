"""The base of every component: identity, naming, and the type registry.

Each concrete class is one ``component_type``; its class name is the name
written in files. Abstract families (``Node``, ``Tool``...) set
``abstract = True`` and can never appear in a file.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, model_validator

from loom._checks import check_settings
from loom.errors import ComponentRef, SpecError
from loom.spec.property import Property, titles

COMPONENT_TYPES: dict[str, type[Component]] = {}


def _new_id() -> str:
    return str(uuid.uuid4())


class Component(BaseModel):
    """A named, identified piece of a configuration."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    abstract: ClassVar[bool] = True
    # The first language version that knows this component type.
    min_agentspec_version: ClassVar[str] = "25.4.1"
    # Fields that hold secrets: written as references, never inline.
    sensitive_fields: ClassVar[frozenset[str]] = frozenset()
    # Fields added after the type itself: left out of files of older versions.
    field_versions: ClassVar[dict[str, str]] = {}
    # Keys the schema allows but whose value the type implies: read, never written.
    implied_fields: ClassVar[frozenset[str]] = frozenset()

    id: str = Field(default_factory=_new_id)
    name: str
    description: str | None = None
    metadata: dict[str, Any] | None = Field(default_factory=dict)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "abstract" not in cls.__dict__:
            cls.abstract = False
        if not cls.abstract:
            COMPONENT_TYPES[cls.__name__] = cls

    @property
    def component_type(self) -> str:
        return type(self).__name__

    @property
    def ref(self) -> ComponentRef:
        return ComponentRef(self.component_type, self.name, self.id)

    def error(self, message: str, hint: str | None = None) -> SpecError:
        """A SpecError about this component."""
        return SpecError(message, component=self.ref, hint=hint)

    @model_validator(mode="wrap")
    @classmethod
    def _build(cls, data: Any, handler: ModelWrapValidatorHandler[Component]) -> Component:
        # A component that is already built was checked then: pass it through. (An
        # "after" validator would re-run the checks every time the component is used
        # as a field value, e.g. once per edge that names a node.)
        if isinstance(data, cls):
            return data
        component = handler(data)
        component._check()
        check_settings(component.metadata, component.ref)
        return component

    def _check(self) -> None:
        """Validate and complete the component; subclasses extend it."""

    def feature_versions(self) -> list[tuple[str, str]]:
        """(minimum version, feature) pairs that this component's values need."""
        return [(self.min_agentspec_version, self.component_type)]

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<{self.component_type} {self.name!r} id={self.id!r}>"


class ComponentWithIO(Component):
    """A component with inputs and outputs, inferred when not given."""

    abstract = True

    inputs: list[Property] | None = None
    outputs: list[Property] | None = None

    def infer_inputs(self) -> list[Property]:
        """The inputs this component's configuration implies."""
        return list(self.inputs or [])

    def infer_outputs(self) -> list[Property]:
        """The outputs this component's configuration implies."""
        return list(self.outputs or [])

    def _check(self) -> None:
        super()._check()
        self.inputs = self._resolve_io("inputs", self.inputs, self.infer_inputs())
        self.outputs = self._resolve_io("outputs", self.outputs, self.infer_outputs())

    def _resolve_io(
        self, kind: str, given: list[Property] | None, inferred: list[Property]
    ) -> list[Property]:
        if given is None:
            return inferred
        given_titles = titles(given)
        declared = set(given_titles)
        if len(declared) != len(given_titles):
            duplicates = sorted({t for t in declared if given_titles.count(t) > 1})
            raise self.error(f"{kind} {duplicates} are declared more than once")
        expected = set(titles(inferred))
        if expected != declared:
            missing, extra = sorted(expected - declared), sorted(declared - expected)
            detail = []
            if missing:
                detail.append(f"missing {missing}")
            if extra:
                detail.append(f"unexpected {extra}")
            raise self.error(
                f"declared {kind} do not match the ones its configuration implies "
                f"({', '.join(detail)})",
                hint=f"declare exactly {sorted(expected)} or leave {kind} out to infer them",
            )
        return given

    def input(self, title: str) -> Property | None:
        return next((p for p in self.inputs or [] if p.title == title), None)

    def output(self, title: str) -> Property | None:
        return next((p for p in self.outputs or [] if p.title == title), None)


class AgenticComponent(ComponentWithIO):
    """Something that can run as a whole: an agent, a flow, a multi-agent team."""

    abstract = True
