"""loom: a fast runtime for Open Agent Spec."""

from loom import spec
from loom._optional import MissingDependency
from loom.errors import LoadError, LoomError, LoomWarning, SpecError, VersionError, VersionWarning
from loom.llm.errors import (
    LlmConnectionError,
    LlmError,
    LlmHttpError,
    LlmResponseError,
    LlmTimeoutError,
)
from loom.runtime import RunResult, Runtime, inline
from loom.runtime.errors import BranchTimeout, NodeFailure, PlanError, RunError
from loom.runtime.state import CheckpointError, RunNotFound, RunTakenOver
from loom.serialization import dump, dumps, load, load_registry, loads, to_dict

__version__ = "0.1.0"

__all__ = [
    "BranchTimeout",
    "CheckpointError",
    "LlmConnectionError",
    "LlmError",
    "LlmHttpError",
    "LlmResponseError",
    "LlmTimeoutError",
    "LoadError",
    "LoomError",
    "LoomWarning",
    "MissingDependency",
    "NodeFailure",
    "PlanError",
    "RunError",
    "RunNotFound",
    "RunResult",
    "RunTakenOver",
    "Runtime",
    "SpecError",
    "VersionError",
    "VersionWarning",
    "dump",
    "dumps",
    "inline",
    "load",
    "load_registry",
    "loads",
    "spec",
    "to_dict",
]
