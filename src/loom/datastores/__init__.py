"""Datastores loom talks to: a PostgresDatabaseDatastore as a summarization cache
(psycopg 3, the ``postgres`` extra). Outside the core: the runtime asks for a
:class:`PostgresLink` per datastore and closes it with the Runtime."""

from loom.datastores.postgres import PostgresCache, PostgresLink, link_key

__all__ = ["PostgresCache", "PostgresLink", "link_key"]
