"""Datastores (26.1.2): named collections of entities, and how to connect to them.

``datastore_schema`` maps a collection name to the JSON schema of its entities:
an ``object`` schema with ``properties``, kept as written (no title is added).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import field_validator

from loom.spec.component import Component
from loom.spec.field_rules import check_choice
from loom.spec.property import Property, check_titles

ORACLE_PROTOCOLS: tuple[str, ...] = ("tcps", "tcp")
POSTGRES_SSL_MODES: tuple[str, ...] = (
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
)


class Datastore(Component):
    """Where data (e.g. a transform's cache) is stored, as named collections."""

    abstract = True
    min_agentspec_version: ClassVar[str] = "26.1.2"

    @field_validator("datastore_schema", mode="before", check_fields=False)
    @classmethod
    def _unwrap_properties(cls, value: Any) -> Any:
        # Authoring in Python: an ObjectProperty stands for its JSON schema.
        if isinstance(value, dict):
            return {
                name: entity.to_dict() if isinstance(entity, Property) else entity
                for name, entity in value.items()
            }
        return value

    @property
    def collections(self) -> dict[str, dict[str, Any]]:
        """Collection name -> entity schema (every concrete datastore has a schema)."""
        schema: dict[str, dict[str, Any]] = getattr(self, "datastore_schema", {})
        return schema

    def collection(self, name: str) -> dict[str, Any] | None:
        return self.collections.get(name)

    def _check(self) -> None:
        super()._check()
        for collection, entity in self.collections.items():
            if entity.get("type") != "object" or not isinstance(entity.get("properties"), dict):
                raise self.error(
                    f"collection '{collection}' is not described by an object schema "
                    "with properties",
                    hint='describe its entities as {"type": "object", "properties": {...}}',
                )
            check_titles(entity, f" in collection '{collection}'")


class InMemoryCollectionDatastore(Datastore):
    """Collections held in the runtime's memory (development and tests)."""

    datastore_schema: dict[str, dict[str, Any]]


class RelationalDatastore(Datastore):
    """A datastore queried with SQL; its schema is fixed."""

    abstract = True

    datastore_schema: dict[str, dict[str, Any]]


class OracleDatabaseConnectionConfig(Component):
    """How to connect to an Oracle database."""

    abstract = True
    min_agentspec_version: ClassVar[str] = "26.1.2"


class TlsOracleDatabaseConnectionConfig(OracleDatabaseConnectionConfig):
    """An Oracle connection over TLS (user, password and DSN are secrets)."""

    sensitive_fields: ClassVar[frozenset[str]] = frozenset({"user", "password", "dsn"})

    user: str
    password: str
    dsn: str
    config_dir: str | None = None
    protocol: str = "tcps"

    def _check(self) -> None:
        super()._check()
        check_choice(self, "protocol", self.protocol, ORACLE_PROTOCOLS)


class MTlsOracleDatabaseConnectionConfig(TlsOracleDatabaseConnectionConfig):
    """An Oracle connection with a wallet (mutual TLS)."""

    sensitive_fields: ClassVar[frozenset[str]] = frozenset(
        {"user", "password", "dsn", "wallet_location", "wallet_password"}
    )

    wallet_location: str
    wallet_password: str


class OracleDatabaseDatastore(RelationalDatastore):
    """Collections stored as tables of an Oracle database."""

    connection_config: OracleDatabaseConnectionConfig


class PostgresDatabaseConnectionConfig(Component):
    """How to connect to a PostgreSQL database."""

    abstract = True
    min_agentspec_version: ClassVar[str] = "26.1.2"


class TlsPostgresDatabaseConnectionConfig(PostgresDatabaseConnectionConfig):
    """A PostgreSQL connection over TLS (user, password and client key are secrets)."""

    sensitive_fields: ClassVar[frozenset[str]] = frozenset({"user", "password", "sslkey"})

    user: str
    password: str
    url: str
    sslmode: str = "require"
    sslcert: str | None = None
    sslkey: str | None = None
    sslrootcert: str | None = None
    sslcrl: str | None = None

    def _check(self) -> None:
        super()._check()
        check_choice(self, "sslmode", self.sslmode, POSTGRES_SSL_MODES)


class PostgresDatabaseDatastore(RelationalDatastore):
    """Collections stored as tables of a PostgreSQL database."""

    connection_config: PostgresDatabaseConnectionConfig
