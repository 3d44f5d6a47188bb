"""Large values kept out of Temporal's history: a claim-check store and its codec.

Temporal refuses a payload over 2 MB and slows down long before that, so every
payload over :data:`THRESHOLD` (a tool result, an LLM answer, a run's inputs or
outputs, an activity's arguments, a continued run's journal) is written to a
store shared by the client and every worker, under the sha256 of its bytes, and
the history holds a small reference instead. Content addressing makes a retried
write the same row: nothing is stored twice. Values are deleted by age
(:meth:`ClaimCheckStore.prune`, ``loom claims prune``): a read or a write
renews a value's age, so a value in use is the last to go.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from loom._optional import require
from loom.errors import CheckpointError, LoomError
from loom.stores.base import masked, masked_url

THRESHOLD = 256 * 1024  # bytes: a payload larger than this goes to the store
ENCODING = b"loom/claim-check"
ENV = "LOOM_CLAIM_CHECK"  # the store's URL when --claim-check is not given
_TABLE = "loom_claim_checks"


class ClaimCheckStore(Protocol):
    """Bytes by key; shared by the client and every worker of a task queue."""

    url: str

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def prune(self, older_than: float) -> int:
        """Delete the values not read or written for ``older_than`` seconds; how many."""
        ...


class DirectoryStore:
    """``file:///shared/dir``: one file per value (one machine, or a shared volume)."""

    def __init__(self, root: Path, url: str = "") -> None:
        self.root = root
        self.url = url or root.as_uri()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LoomError(f"cannot create the claim-check directory {root}: {exc}",
                            hint="give --claim-check a writable directory") from None

    def __repr__(self) -> str:
        return f"DirectoryStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if path.exists():
            os.utime(path)  # the same value again: it is in use
            return
        path.parent.mkdir(exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temp, path)  # whole or not at all, for readers on other machines
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return data

    def prune(self, older_than: float) -> int:
        cutoff, deleted = time.time() - older_than, 0
        for path in self.root.glob("??/*"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    deleted += 1
        return deleted


class PostgresClaimStore:
    """``postgresql://...``: values in a table of loom's PostgreSQL (the ``postgres``
    extra). A connection per operation: values this large are rare, and no
    connection outlives its call."""

    def __init__(self, dsn: str, connect_timeout: float = 10.0) -> None:
        self.dsn = self.url = dsn
        self.connect_timeout = connect_timeout
        self._psycopg: Any = require("psycopg", "postgres", "a PostgreSQL claim-check store",
                                     package="psycopg 3")
        with self._cursor("cannot create its table") as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(_TABLE.encode()),))
            cur.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} (key TEXT PRIMARY KEY,"
                        " data BYTEA NOT NULL, used_at DOUBLE PRECISION NOT NULL)")

    def __repr__(self) -> str:
        return f"PostgresClaimStore({masked_url(self.dsn)!r})"

    @contextlib.contextmanager
    def _cursor(self, what: str) -> Iterator[Any]:
        psycopg = self._psycopg
        try:
            with psycopg.connect(self.dsn, connect_timeout=max(1, int(self.connect_timeout))
                                 ) as conn, conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            raise LoomError(masked(f"claim-check store {self.dsn}: {what}: "
                                   f"{str(exc).strip()}", self.dsn),
                            hint="check that the server runs and the URL is right") from None

    def put(self, key: str, data: bytes) -> None:
        with self._cursor(f"cannot write value '{key}'") as cur:
            cur.execute(f"INSERT INTO {_TABLE} (key, data, used_at) VALUES (%s, %s, %s)"
                        " ON CONFLICT (key) DO UPDATE SET used_at = excluded.used_at",
                        (key, data, time.time()))

    def get(self, key: str) -> bytes | None:
        with self._cursor(f"cannot read value '{key}'") as cur:
            cur.execute(f"UPDATE {_TABLE} SET used_at = %s WHERE key = %s RETURNING data",
                        (time.time(), key))
            row = cur.fetchone()
        return None if row is None else bytes(row[0])

    def prune(self, older_than: float) -> int:
        with self._cursor("cannot prune") as cur:
            cur.execute(f"DELETE FROM {_TABLE} WHERE used_at < %s", (time.time() - older_than,))
            return int(cur.rowcount)


def open_claim_check(url: str) -> ClaimCheckStore:
    """The store a ``--claim-check`` URL names: ``file:///dir`` or ``postgresql://...``."""
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.path and parts.netloc in ("", "localhost"):
        return DirectoryStore(Path(unquote(parts.path)), url)
    if parts.scheme in ("postgresql", "postgres"):
        return PostgresClaimStore(url)
    raise LoomError(f"claim-check store {masked_url(url)!r} is neither a directory nor "
                    "PostgreSQL",
                    hint="write it file:///shared/dir or postgresql://user@host/db")


class ClaimCheckCodec(PayloadCodec):
    """Puts each payload over ``threshold`` bytes in ``store``; the history keeps
    ``{"key", "size"}``. With no store, payloads pass as they are, and a reference
    met on decoding names the store this process lacks."""

    def __init__(self, store: ClaimCheckStore | None, threshold: int = THRESHOLD) -> None:
        self.store = store
        self.threshold = threshold

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if self.store is None or payload.ByteSize() <= self.threshold:
                out.append(payload)
                continue
            data = payload.SerializeToString()
            key = hashlib.sha256(data).hexdigest()
            await asyncio.to_thread(self.store.put, key, data)
            reference = json.dumps({"key": key, "size": len(data)}).encode()
            out.append(Payload(metadata={"encoding": ENCODING}, data=reference))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            reference = json.loads(payload.data)
            out.append(await self._read(reference["key"], int(reference["size"])))
        return out

    async def _read(self, key: str, size: int) -> Payload:
        """The payload a reference names (CheckpointError naming the key, if none)."""
        if self.store is None:
            raise CheckpointError(
                f"a value of {size:,} bytes is in a claim-check store (key '{key}'), but this "
                "process has none", hint=f"give it the store its client and workers use: "
                f"--claim-check URL, ${ENV} or TemporalBackend(claim_check=...)")
        data = await asyncio.to_thread(self.store.get, key)
        if data is None or hashlib.sha256(data).hexdigest() != key:
            raise CheckpointError(
                f"claim-check value '{key}' ({size:,} bytes) is "
                f"{'missing from' if data is None else 'corrupt in'} {masked_url(self.store.url)}",
                hint="it was pruned (loom claims prune), or this process uses another "
                "store than the one that wrote it")
        return Payload.FromString(data)
