"""Reading and writing Agent Spec documents (JSON and YAML)."""

from loom.serialization.api import (
    dump,
    dumps,
    load,
    load_document,
    load_registry,
    load_registry_document,
    loads,
    to_dict,
)

__all__ = [
    "dump",
    "dumps",
    "load",
    "load_document",
    "load_registry",
    "load_registry_document",
    "loads",
    "to_dict",
]
