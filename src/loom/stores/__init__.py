"""Checkpoint stores: in-memory (default of the Python API), SQLite, PostgreSQL."""

from loom.stores.base import CheckpointStore, RunSummary
from loom.stores.memory import MemoryStore

__all__ = ["CheckpointStore", "MemoryStore", "RunSummary"]
