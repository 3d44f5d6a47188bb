"""Checkpoint stores: in-memory (default of the Python API), SQLite, PostgreSQL.

``open_store(url)`` opens one from a URL: ``sqlite:///path/runs.sqlite3`` (an
absolute path: ``sqlite:////abs/path``; a plain path ending in .sqlite3, .sqlite or .db),
``postgresql://user:pw@host:5432/db`` (also ``postgres://``) or ``memory:``.
The ``loom`` command's default is :func:`default_store_url`: ``$LOOM_STORE``,
else a SQLite file in the user's data directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from loom.errors import CheckpointError
from loom.stores.base import CheckpointStore, RunSummary, masked
from loom.stores.memory import MemoryStore
from loom.stores.postgres import PostgresStore
from loom.stores.sqlite import SqliteStore

__all__ = [
    "CheckpointStore",
    "MemoryStore",
    "PostgresStore",
    "RunSummary",
    "SqliteStore",
    "default_store_url",
    "open_store",
    "store_opener",
]


def default_store_url() -> str:
    """``$LOOM_STORE``, else ``sqlite:///$XDG_DATA_HOME/loom/runs.sqlite3``
    (``~/.local/share/loom/runs.sqlite3`` when XDG_DATA_HOME is unset)."""
    configured = os.environ.get("LOOM_STORE")
    if configured:
        return configured
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return "sqlite:///" + str(Path(base) / "loom" / "runs.sqlite3")


def open_store(url: str | None = None) -> CheckpointStore:
    """A store from its URL (the default store when ``url`` is None)."""
    return store_opener(url)()


def store_opener(url: str | None = None) -> Callable[[], CheckpointStore]:
    """Check a store URL now; the returned function opens the store."""
    url = url or default_store_url()
    if url in ("memory:", "memory://"):
        return MemoryStore
    if url.startswith(("postgresql://", "postgres://")):
        def postgres() -> CheckpointStore:
            return PostgresStore(url)

        return postgres
    if url.startswith("sqlite:"):
        path = url[len("sqlite:"):]
        if path.startswith("///"):
            path = path[3:]  # sqlite:///relative/path, sqlite:////absolute/path
        elif path.startswith("//"):
            raise CheckpointError(
                masked(f"bad SQLite store URL {url!r}", url),
                hint="write sqlite:///relative/path or sqlite:////absolute/path",
            )
        if not path:
            raise CheckpointError(masked(f"bad SQLite store URL {url!r}: no path", url))
    elif "://" in url or not url.endswith((".sqlite3", ".sqlite", ".db")):
        raise CheckpointError(
            masked(f"unknown store URL {url!r}", url),
            hint="use sqlite:///path/runs.sqlite3, postgresql://user@host/db, memory: "
            "or a file path ending in .sqlite3, .sqlite or .db",
        )
    else:
        path = url  # a plain file path

    def sqlite() -> CheckpointStore:
        return SqliteStore(path)

    return sqlite
