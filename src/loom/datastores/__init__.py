"""Datastores loom talks to: a PostgresDatabaseDatastore as a summarization cache
(psycopg 3, the ``postgres`` extra). Outside the core: a Runtime's
:class:`Links` hold one connection per datastore and close them with it."""

from loom.datastores.postgres import Links, PostgresCache, PostgresLink

__all__ = ["Links", "PostgresCache", "PostgresLink"]
