"""loom: a fast runtime for Open Agent Spec."""

from loom import spec
from loom.errors import LoadError, LoomError, LoomWarning, SpecError, VersionError, VersionWarning
from loom.runtime import RunResult, Runtime, inline
from loom.serialization import dump, dumps, load, load_registry, loads, to_dict

__version__ = "0.1.0"

__all__ = [
    "LoadError",
    "RunResult",
    "Runtime",
    "inline",
    "LoomError",
    "LoomWarning",
    "SpecError",
    "VersionError",
    "VersionWarning",
    "dump",
    "dumps",
    "load",
    "load_registry",
    "loads",
    "spec",
    "to_dict",
]
