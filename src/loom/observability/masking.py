"""Turning live values into JSON, with sensitive fields masked and secrets removed.

Two protections, applied to everything :mod:`loom.observability` writes or exports:

* **masking** (Agent Spec tracing, section 9): the fields the spec marks sensitive
  (inputs, outputs, prompts, LLM content, messages, exception messages...) are
  replaced by :data:`MASK` unless the caller explicitly asks for content;
* **secret scrubbing**: whatever is written, masked or not, never contains a known
  secret: the values of every component's sensitive fields (``api_key``,
  ``sensitive_headers``, passwords...), the runtime's LLM key and the API keys
  of the environment are replaced by :data:`REDACTED` wherever they appear.
  Components are written as references (type, id, name), never field by field.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from loom.runtime.events import describe_exception
from loom.spec.component import Component
from loom.spec.walk import walk

MASK = "** masked **"
REDACTED = "***"

SENSITIVE_FIELDS = frozenset(
    {
        "inputs",
        "outputs",
        "prompt",
        "content",
        "tool_calls",
        "message",
        "exception_message",
        "exception_stacktrace",
        "state_snapshot",
        "extra_state",
    }
)
"""Event fields Agent Spec marks sensitive (section 9): masked by default."""

SECRET_ENV_VARS = ("LOOM_LLM_API_KEY", "OPENAI_API_KEY")
"""Environment variables whose values are secrets wherever they show up."""

MIN_SECRET_LENGTH = 4
_MAX_DEPTH = 32


def component_ref(component: Component) -> dict[str, Any]:
    """How a component appears in traces: its type, id and name, nothing else."""
    return {
        "component_type": component.component_type,
        "id": component.id,
        "name": component.name,
    }


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-ready copy of ``value``: components become references, exceptions their
    type and first line, dataclasses and models their fields, anything else text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > _MAX_DEPTH:
        return "..."
    if isinstance(value, Component):
        return component_ref(value)
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(item, depth + 1) for item in value]
    if isinstance(value, BaseException):
        kind, message = describe_exception(value)
        return {"type": kind, "message": message}
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(mode="json"), depth + 1)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_jsonable(to_dict(), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(
            {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, depth + 1
        )
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return str(value)


class Scrubber:
    """Replaces every occurrence of known secret strings in JSON-ready values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        fresh = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}
        if fresh - self.secrets:
            self.secrets |= fresh
            ordered = sorted(self.secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(REDACTED, value)

    def __call__(self, value: Any) -> Any:
        """``value`` (already JSON-ready) with every secret replaced."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k): self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(item) for item in value]
        return value


def secrets_of(component: Component | None) -> set[str]:
    """The values of the sensitive fields of ``component`` and everything in it."""
    found: set[str] = set()
    if component is None:
        return found
    for item in walk(component):
        for name in type(item).sensitive_fields:
            _collect(getattr(item, name, None), found)
    return found


def environment_secrets(environ: Mapping[str, str] | None = None) -> set[str]:
    env = os.environ if environ is None else environ
    return {env[name] for name in SECRET_ENV_VARS if env.get(name)}


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        if value:
            found.add(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, found)
