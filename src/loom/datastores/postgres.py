"""A summarization transform's cache kept in a table of a PostgresDatabaseDatastore.

The table is the cache collection: its name, its columns the entity's properties
(created when missing; an existing table must have the transform's columns).
The rules are the in-memory cache's: an entry older than ``max_cache_lifetime``
seconds (by ``created_at``) is gone, and past ``max_cache_size`` entries the least
recently used (``last_used_at``) go first. The table may be shared by many
processes, so times are epoch seconds from the runtime's clock (the effects door).
One connection per datastore and Runtime, used by one worker thread at a time,
opened again if the server dropped it; the Runtime closes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from loom._optional import require
from loom.errors import StepError
from loom.spec.datastores import PostgresDatabaseDatastore, TlsPostgresDatabaseConnectionConfig
from loom.stores.base import masked

_SSL_FIELDS = ("sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl")
# JSON type of a property -> the column type made for it, and the types accepted.
_CREATE = {"string": "TEXT", "number": "DOUBLE PRECISION", "integer": "BIGINT",
           "boolean": "BOOLEAN"}
_ACCEPTED = {
    "string": {"text", "character varying", "character"},
    "number": {"double precision", "real", "numeric", "bigint", "integer", "smallint"},
    "integer": {"bigint", "integer", "smallint", "numeric"},
    "boolean": {"boolean"},
}
KEY, CONTENT, CREATED, USED = "cache_key", "cache_content", "created_at", "last_used_at"
CONNECT_TIMEOUT = 10


MAX_LINKS = 32


class Links:
    """A Runtime's datastore connections: one per datastore (two objects of one flow
    loaded twice are the same), closed with the Runtime; past MAX_LINKS datastores
    the oldest is closed (a run still using it gets it opened again)."""

    def __init__(self) -> None:
        self._links: dict[tuple[Any, ...], PostgresLink] = {}
        self._lock = threading.Lock()

    def get(self, store: PostgresDatabaseDatastore) -> PostgresLink:
        config = store.connection_config
        key = (store.id, store.name, *(getattr(config, name, None) for name in
                                       ("url", "user", "password", *_SSL_FIELDS)))
        with self._lock:
            link = self._links.get(key)
            if link is None:
                while len(self._links) >= MAX_LINKS:
                    self._links.pop(next(iter(self._links))).close()
                link = self._links[key] = PostgresLink(store)
        return link

    def close(self) -> None:
        with self._lock:
            links, self._links = list(self._links.values()), {}
        for link in links:
            link.close()


class PostgresLink:
    """The connection of one PostgresDatabaseDatastore, opened on first use."""

    def __init__(self, store: PostgresDatabaseDatastore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._conn: Any = None
        self._tables: set[str] = set()
        self.closed = False

    @property
    def label(self) -> str:
        return f"PostgresDatabaseDatastore '{self.store.name}'"

    def run(self, collection: str, work: Callable[[Any], Any]) -> Any:
        """``work(cursor)`` in a transaction; a failure names the datastore and collection."""
        psycopg = self.psycopg(collection)
        with self._lock:
            if self.closed:
                raise StepError(f"{self.label}: its runtime is closed")
            conn = self._connection(psycopg, collection)
            try:
                with conn.transaction(), conn.cursor() as cur:
                    return work(cur)
            except psycopg.Error as exc:
                raise StepError(
                    self._masked(f"{self.label}, collection '{collection}': "
                                 f"{str(exc).strip()}")) from None

    def close(self) -> None:
        with self._lock:
            self.closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def ensure_table(self, collection: str, entity: Mapping[str, Any],
                     needed: Mapping[str, str]) -> None:
        """Create the collection's table if missing, or check the one there."""
        if collection in self._tables:
            return
        sql = self.psycopg(collection).sql
        table = sql.Identifier(collection)
        properties: Mapping[str, Any] = entity.get("properties") or {}

        def work(cur: Any) -> None:
            columns = [sql.SQL("{} {}").format(
                sql.Identifier(name),
                sql.SQL(_CREATE.get(str(schema.get("type")), "JSONB")
                        + (" PRIMARY KEY" if name == KEY else "")))
                for name, schema in properties.items()]
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (collection,))
            cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                table, sql.SQL(", ").join(columns)))
            cur.execute(
                "SELECT column_name, data_type, is_nullable, column_default FROM "
                "information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = %s", (collection,))
            found = {row[0]: row for row in cur.fetchall()}
            cur.execute(
                "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = i.indkey[0] WHERE i.indrelid = %s::regclass "
                "AND i.indisunique AND i.indnatts = 1 AND a.attname = %s",
                (sql.Identifier(collection).as_string(cur), KEY))
            unique = cur.fetchone() is not None
            self._check_columns(collection, found, needed, unique)

        self.run(collection, work)
        self._tables.add(collection)

    def _check_columns(self, collection: str, found: Mapping[str, tuple[Any, ...]],
                       needed: Mapping[str, str], unique: bool) -> None:
        problems = []
        for name, kind in needed.items():
            if name not in found:
                problems.append(f"it has no column '{name}'")
            elif found[name][1] not in _ACCEPTED[kind]:
                problems.append(f"column '{name}' is {found[name][1]}, not a {kind}")
        for name, (_, _, nullable, default) in found.items():
            if name not in needed and nullable == "NO" and default is None:
                problems.append(f"column '{name}' is NOT NULL without a default, and the "
                                "cache does not write it")
        if not unique and KEY in found:
            problems.append(f"column '{KEY}' is not unique (no primary key or unique index)")
        if problems:
            raise StepError(
                f"{self.label}: the table '{collection}' exists but cannot hold the cache: "
                + "; ".join(problems),
                hint=f"drop or alter the table, or name another collection (columns "
                f"{', '.join(needed)}, '{KEY}' unique)")

    def psycopg(self, collection: str) -> Any:
        return require("psycopg", "postgres",
                       f"{self.label} (collection '{collection}')", package="psycopg 3")

    def _connection(self, psycopg: Any, collection: str) -> Any:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        config = self.store.connection_config
        if not isinstance(config, TlsPostgresDatabaseConnectionConfig):
            raise StepError(f"{self.label}: {config.component_type} is not a connection "
                            "config loom knows", hint="use a TlsPostgresDatabaseConnectionConfig")
        options = {name: getattr(config, name) for name in _SSL_FIELDS
                   if getattr(config, name) is not None}
        try:
            conn = psycopg.connect(
                _conninfo(config.url), user=config.user, password=config.password,
                autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                application_name=f"loom datastore {self.store.name}"[:63], **options)
        except psycopg.Error as exc:
            raise StepError(
                self._masked(f"cannot connect to {self.label} (collection '{collection}') "
                             f"at {config.url}: {str(exc).strip()}"),
                hint="check the url, user, password and sslmode of its connection_config",
            ) from None
        self._conn = conn
        return conn

    def _masked(self, text: str) -> str:
        """Neither the password nor credentials written in the url are shown."""
        config = self.store.connection_config
        secret = getattr(config, "password", None)
        text = masked(text, str(getattr(config, "url", "")))
        return text.replace(secret, "***") if secret else text


def _conninfo(url: str) -> str:
    """The SDK's ``url`` as libpq reads it: a postgresql:// URL, or ``host:port/db``."""
    if url.startswith(("postgresql://", "postgres://")) or "=" in url:
        return url
    return f"postgresql://{url}"


class PostgresCache:
    """One transform's summaries in its collection's table; ``get``/``put`` run on
    a worker thread through ``submit`` (the Runtime's pool). ``link`` gives the
    datastore's connection, which the Runtime owns."""

    def __init__(
        self, link: Callable[[], PostgresLink], collection: str, fields: Mapping[str, str],
        max_size: int | None, lifetime: int | None, clock: Callable[[], float],
        submit: Callable[..., Any],
    ) -> None:
        self.link = link
        self.collection = collection
        self.fields = dict(fields)
        self.max_size = max_size
        self.lifetime = lifetime
        self.clock = clock
        self.submit = submit

    async def get(self, key: str) -> str | None:
        now = self.clock()
        value: str | None = await self.submit(self._get, key, now)
        return value

    async def put(self, key: str, summary: str, extra: Mapping[str, Any]) -> None:
        await self.submit(self._put, key, summary, dict(extra), self.clock())

    def _prepare(self) -> tuple[PostgresLink, Any]:
        link = self.link()
        link.ensure_table(self.collection, link.store.collection(self.collection) or {},
                          self.fields)
        return link, link.psycopg(self.collection).sql

    def _get(self, key: str, now: float) -> str | None:
        link, sql = self._prepare()
        query = sql.SQL("UPDATE {t} SET {used} = %s WHERE {key} = %s").format(
            t=sql.Identifier(self.collection), used=sql.Identifier(USED),
            key=sql.Identifier(KEY))
        arguments: list[Any] = [now, key]
        if self.lifetime is not None:
            query += sql.SQL(" AND {created} >= %s").format(created=sql.Identifier(CREATED))
            arguments.append(now - self.lifetime)
        query += sql.SQL(" RETURNING {content}").format(content=sql.Identifier(CONTENT))

        def work(cur: Any) -> str | None:
            cur.execute(query, arguments)
            row = cur.fetchone()
            return None if row is None else str(row[0])

        result: str | None = link.run(self.collection, work)
        return result

    def _put(self, key: str, summary: str, extra: dict[str, Any], now: float) -> None:
        link, sql = self._prepare()
        row = {KEY: key, CONTENT: summary, CREATED: now, USED: now,
               **{name: value for name, value in extra.items() if name in self.fields}}
        names = [sql.Identifier(name) for name in row]
        table = sql.Identifier(self.collection)
        insert = sql.SQL(
            "INSERT INTO {t} ({names}) VALUES ({values}) ON CONFLICT ({key}) DO UPDATE SET "
            "{updates}").format(
            t=table, names=sql.SQL(", ").join(names),
            values=sql.SQL(", ").join(sql.Placeholder() * len(row)), key=sql.Identifier(KEY),
            updates=sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(name)
                                       for name in names[1:]))

        def work(cur: Any) -> None:
            cur.execute(insert, list(row.values()))
            if self.lifetime is not None:
                cur.execute(sql.SQL("DELETE FROM {t} WHERE {created} < %s").format(
                    t=table, created=sql.Identifier(CREATED)), (now - self.lifetime,))
            if self.max_size is not None:
                cur.execute(sql.SQL(
                    "DELETE FROM {t} WHERE {key} IN (SELECT {key} FROM {t} ORDER BY "
                    "{used} DESC, {key} OFFSET %s)").format(
                    t=table, key=sql.Identifier(KEY), used=sql.Identifier(USED)),
                    (self.max_size,))

        link.run(self.collection, work)
