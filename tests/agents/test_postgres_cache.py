"""A PostgresDatabaseDatastore as a summarization cache, on the test suite's real
PostgreSQL: summaries land in the collection's table, a second Runtime (another
process's worth of state) takes them from there, the size and age rules of the
in-memory cache hold, and the Runtime owns and closes the connection."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from loom.runtime.effects import Effects
from loom.spec.datastores import PostgresDatabaseDatastore, TlsPostgresDatabaseConnectionConfig
from loom.spec.transforms import MessageSummarizationTransform
from loom.testing import FakeLlmServer

from .conftest import make_agent, runtime
from .test_transforms import LONG, MESSAGE_INSTRUCTIONS, answer, message_transform

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def table(postgres_url: str) -> Iterator[str]:
    """A collection name of this test's own; its table is dropped afterwards."""
    name = f"summaries_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


def datastore(postgres_url: str, collection: str, *, user: str | None = None,
              password: str = "unused", name: str = "summaries_db"
              ) -> PostgresDatabaseDatastore:
    where = urlsplit(postgres_url)
    return PostgresDatabaseDatastore(
        name=name,
        datastore_schema={collection: MessageSummarizationTransform.cache_entity()},
        connection_config=TlsPostgresDatabaseConnectionConfig(
            name="conn", user=user or where.username or "loom", password=password,
            url=f"{where.hostname}:{where.port}{where.path}", sslmode="disable"),
    )


def summarize(server: FakeLlmServer, store: PostgresDatabaseDatastore, collection: str,
              message: str = LONG, **extra: Any) -> Any:
    """One new Runtime sends ``message`` to an agent whose transform caches in ``store``."""
    transform = message_transform(server, datastore=store, cache_collection_name=collection,
                                  **extra)
    run = runtime(llm={"url": server.url})
    agent = make_agent(server, transforms=[transform])
    started = run.run(agent)
    return run, run.resume(started.run_id, answer(started, message))


def asked(server: FakeLlmServer) -> int:
    return sum(1 for body in server.requests
               if body["messages"][0]["content"] == MESSAGE_INSTRUCTIONS)


def rows(postgres_url: str, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(postgres_url) as conn:
        return conn.execute(f"SELECT cache_content, created_at, last_used_at FROM {table} "
                            "ORDER BY last_used_at").fetchall()


def test_a_summary_is_stored_and_reused_by_another_runtime(
    fake_llm: FakeLlmServer, postgres_url: str, table: str,
) -> None:
    fake_llm.script(None, "revenue grew", system=MESSAGE_INSTRUCTIONS)
    store = datastore(postgres_url, table)
    before = time.time()
    first, result = summarize(fake_llm, store, table)
    assert result.status == "waiting", result.error
    [(content, created, used)] = rows(postgres_url, table)
    assert content == "revenue grew" and before <= created == used <= time.time()
    first.close()
    # A second Runtime, and a datastore object of its own (the flow loaded again).
    _, again = summarize(fake_llm, datastore(postgres_url, table), table)
    assert again.status == "waiting", again.error
    assert asked(fake_llm) == 1  # the table answered
    agent_turns = [b for b in fake_llm.requests if b["messages"][0]["content"] == "You help."]
    assert agent_turns[-1]["messages"][1]["content"] == "Summarized message: revenue grew"
    [(_, _, used_again)] = rows(postgres_url, table)
    assert used_again > used


def test_entries_past_the_size_or_the_lifetime_are_evicted(
    fake_llm: FakeLlmServer, postgres_url: str, table: str,
) -> None:
    fake_llm.script(None, "S", system=MESSAGE_INSTRUCTIONS)
    store = datastore(postgres_url, table)
    for n in range(3):
        summarize(fake_llm, store, table, f"{n}: {LONG}", max_cache_size=2)
    assert asked(fake_llm) == 3 and len(rows(postgres_url, table)) == 2
    summarize(fake_llm, store, table, f"0: {LONG}", max_cache_size=2)  # the evicted one
    assert asked(fake_llm) == 4
    summarize(fake_llm, store, table, f"2: {LONG}", max_cache_size=2)  # still there
    assert asked(fake_llm) == 4
    # Age every entry past the lifetime: the next run asks the LLM again.
    with psycopg.connect(postgres_url) as conn:
        conn.execute(f"UPDATE {table} SET created_at = created_at - 100")
    summarize(fake_llm, store, table, f"2: {LONG}", max_cache_lifetime=60)
    assert asked(fake_llm) == 5
    assert len(rows(postgres_url, table)) == 1  # the expired ones were deleted


def password_role(postgres_url: str) -> None:
    """scripts/postgres makes a role whose password the server checks; a server
    started otherwise may lack it."""
    with psycopg.connect(postgres_url) as conn:
        found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'loom_password'").fetchall()
    if not found:
        why = "the PostgreSQL server has no role loom_password: start it with scripts/postgres"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)


def test_a_wrong_password_is_a_clear_error(
    fake_llm: FakeLlmServer, postgres_url: str, table: str,
) -> None:
    password_role(postgres_url)
    store = datastore(postgres_url, table, user="loom_password", password="not-the-password")
    _, result = summarize(fake_llm, store, table)
    assert result.status == "failed" and result.error is not None
    message = result.error.message
    assert message.startswith(f"cannot connect to PostgresDatabaseDatastore 'summaries_db' "
                              f"(collection '{table}')")
    assert 'password authentication failed for user "loom_password"' in message
    assert "not-the-password" not in str(result.error)
    assert asked(fake_llm) == 0
    # The right password (scripts/postgres made the role) works.
    good = datastore(postgres_url, table, user="loom_password", password="loom-password")
    fake_llm.script(None, "S", system=MESSAGE_INSTRUCTIONS)
    _, result = summarize(fake_llm, good, table)
    assert result.status == "waiting", result.error


def test_a_table_that_cannot_hold_the_cache_is_named(
    fake_llm: FakeLlmServer, postgres_url: str, table: str,
) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute(f"CREATE TABLE {table} (cache_key TEXT, cache_content INTEGER)")
    _, result = summarize(fake_llm, datastore(postgres_url, table), table)
    assert result.status == "failed" and result.error is not None
    assert (f"PostgresDatabaseDatastore 'summaries_db': the table '{table}' exists but "
            "cannot hold the cache: column 'cache_content' is integer, not a string; it has "
            "no column 'created_at'") in result.error.message


def connections(postgres_url: str, name: str) -> int:
    with psycopg.connect(postgres_url) as conn:
        [(count,)] = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (f"loom datastore {name}",)).fetchall()
        return int(count)


def test_the_runtime_closes_the_connection(
    fake_llm: FakeLlmServer, postgres_url: str, table: str,
) -> None:
    fake_llm.script(None, "S", system=MESSAGE_INSTRUCTIONS)
    name = f"db_{uuid.uuid4().hex[:8]}"
    store = datastore(postgres_url, table, name=name)
    run, _ = summarize(fake_llm, store, table)
    agent = make_agent(fake_llm, transforms=[message_transform(
        fake_llm, datastore=store, cache_collection_name=table)])
    for _ in range(3):  # more runs of this Runtime share its one connection
        started = run.run(agent)
        run.resume(started.run_id, answer(started, LONG))
    assert connections(postgres_url, name) == 1
    run.close()
    deadline = time.monotonic() + 5
    while connections(postgres_url, name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert connections(postgres_url, name) == 0


class FixedClock(Effects):
    """The local door with a clock that says what the test wants."""

    def now(self) -> float:
        return 1_000_000.0


def test_the_cache_reads_the_clock_of_the_effects_door(
    fake_llm: FakeLlmServer, postgres_url: str, table: str,
) -> None:
    fake_llm.script(None, "S", system=MESSAGE_INSTRUCTIONS)
    run = runtime(llm={"url": fake_llm.url})
    run.services.effects = FixedClock(run.services.pool)
    agent = make_agent(fake_llm, transforms=[message_transform(
        fake_llm, datastore=datastore(postgres_url, table), cache_collection_name=table)])
    started = run.run(agent)
    run.resume(started.run_id, answer(started, LONG))
    assert rows(postgres_url, table) == [("S", 1_000_000.0, 1_000_000.0)]


def test_without_psycopg_the_error_names_the_extra(
    fake_llm: FakeLlmServer, postgres_url: str, table: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what an install without it sees
    _, result = summarize(fake_llm, datastore(postgres_url, table), table)
    assert result.status == "failed" and result.error is not None
    assert f"PostgresDatabaseDatastore 'summaries_db' (collection '{table}') needs " \
        "psycopg 3, which is not installed" in str(result.error)
    assert "pip install 'loom[postgres]'" in str(result.error)


def test_credentials_in_the_url_are_not_shown(fake_llm: FakeLlmServer, table: str) -> None:
    store = PostgresDatabaseDatastore(
        name="nowhere", datastore_schema={table: MessageSummarizationTransform.cache_entity()},
        connection_config=TlsPostgresDatabaseConnectionConfig(
            name="conn", user="u", password="pw-one", sslmode="disable",
            url="postgresql://u:pw-two@127.0.0.1:9/loom_test"))
    _, result = summarize(fake_llm, store, table)
    assert result.status == "failed" and result.error is not None
    text = result.error.message
    assert "cannot connect to PostgresDatabaseDatastore 'nowhere'" in text
    assert "postgresql://u:***@127.0.0.1:9/loom_test" in text
    assert "pw-one" not in text and "pw-two" not in text
