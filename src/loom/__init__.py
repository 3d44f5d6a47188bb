"""loom: a fast runtime for Open Agent Spec."""

from loom import spec
from loom.errors import (
    BranchTimeout,
    CheckpointError,
    GraphError,
    LlmConnectionError,
    LlmError,
    LlmHttpError,
    LlmResponseError,
    LlmTimeoutError,
    LoadError,
    LoomError,
    LoomWarning,
    MissingDependency,
    NodeFailure,
    PlanError,
    RunError,
    RunNotFound,
    RunTakenOver,
    SpecError,
    TimelineError,
    VersionError,
    VersionWarning,
)
from loom.runtime import RunResult, Runtime, inline
from loom.serialization import dump, dumps, load, load_registry, loads, to_dict

__version__ = "0.1.0"

__all__ = [
    "RunResult",
    "Runtime",
    "dump",
    "dumps",
    "inline",
    "load",
    "load_registry",
    "loads",
    "spec",
    "to_dict",
    # errors and warnings (the tree: loom.errors)
    "BranchTimeout",
    "CheckpointError",
    "GraphError",
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
    "RunTakenOver",
    "SpecError",
    "TimelineError",
    "VersionError",
    "VersionWarning",
]
