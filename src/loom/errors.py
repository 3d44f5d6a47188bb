"""Errors that tell the user what to fix.

Every error loom raises on bad input derives from :class:`LoomError`. It carries
the component it is about (type, name, id), where that component sits in the
file (a JSON path) and, when there is one, a hint.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ComponentRef:
    """Identifies a component in messages: ``LlmNode 'summarize' (id 1f2e...)``."""

    component_type: str
    name: str | None = None
    id: str | None = None

    def __str__(self) -> str:
        text = self.component_type
        if self.name:
            text += f" '{self.name}'"
        if self.id and self.id != self.name:
            text += f" (id {self.id})"
        return text


class LoomError(Exception):
    """Base class of every error loom raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        component: ComponentRef | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.component = component
        self.path = path
        self.hint = hint
        super().__init__(self.describe())

    def describe(self) -> str:
        parts = []
        if self.component is not None:
            parts.append(f"{self.component}: ")
        parts.append(self.message)
        if self.path:
            parts.append(f" [at {self.path}]")
        if self.hint:
            parts.append(f". {self.hint}" if not self.message.endswith(".") else f" {self.hint}")
        return "".join(parts)

    def located(self, path: str) -> LoomError:
        """Attach a JSON path if the error does not have one yet."""
        if self.path is None:
            self.path = path
            self.args = (self.describe(),)
        return self


class SpecError(LoomError):
    """A component breaks a rule of the Agent Spec language.

    Deliberately not a ValueError: pydantic lets it through unwrapped, so the
    message the user sees is ours.
    """


class LoadError(LoomError):
    """A file or document cannot be read as Agent Spec."""


class VersionError(LoadError):
    """An ``agentspec_version`` is unknown or too low for the features used."""


class LoomWarning(UserWarning):
    """Something loom accepts but that is probably not what the author meant."""


class VersionWarning(LoomWarning):
    """A file declares a lower ``agentspec_version`` than its features need."""
