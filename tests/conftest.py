"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared_folder import ABSENT_MARK, SHARED_DIR, in_ci, require
from xdist_groups import xdist_group_of


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{ABSENT_MARK}(path): the ../shared files this "
                            "parametrized test reads are absent (skip, or fail under CI=true)")


@pytest.hookimpl(optionalhook=True)  # plain pytest, without xdist, runs the suite serially
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadgroup` runs the groups of tests/xdist_groups.py on one worker each."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group_of(nodeid)

    return GroupScheduling(config, log)


def pytest_runtest_setup(item: pytest.Item) -> None:
    absent = item.get_closest_marker(ABSENT_MARK)
    if absent is not None:
        require(Path(absent.args[0]))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared folder beside the repository (conformance corpus): tests/shared_folder.py
    skips without it, and fails under CI=true."""
    return require(SHARED_DIR)


# --- checkpoint stores ------------------------------------------------------------------
# `store_backend` runs a test on SQLite and on PostgreSQL; `any_store_backend` adds the
# in-memory store. PostgreSQL needs LOOM_TEST_POSTGRES_DSN (scripts/postgres starts a
# server and prints it; scripts/test does both): without it the tests skip, except in
# CI (CI=true), where they fail.


def postgres_dsn() -> str:
    import os

    dsn = os.environ.get("LOOM_TEST_POSTGRES_DSN")
    if dsn:
        return dsn
    if in_ci():
        pytest.fail("CI=true but LOOM_TEST_POSTGRES_DSN is unset: .ci/run must start "
                    "PostgreSQL (scripts/test runs scripts/postgres)")
    pytest.skip("LOOM_TEST_POSTGRES_DSN is unset: run scripts/postgres (or scripts/test) "
                "to test the PostgreSQL store")


@pytest.fixture
def postgres_url() -> str:
    """The test PostgreSQL server's DSN, for a test that starts processes on it."""
    return postgres_dsn()


class StoreBackend:
    """Opens stores on one database: ``open()`` gives a new connection each time (as
    another process would have); ``spec`` describes it for a subprocess."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        import uuid

        self.kind = kind
        self.opened: list = []
        self.spec: dict = {"kind": kind}
        if kind == "sqlite":
            self.spec["path"] = str(tmp_path / "runs.sqlite3")
        elif kind == "postgres":
            self.spec["dsn"] = postgres_dsn()
            self.spec["table"] = f"loom_test_{uuid.uuid4().hex[:12]}"
        self._memory = None

    def open(self, **options):
        if self.kind == "memory":
            from loom.stores import MemoryStore

            if self._memory is None:
                self._memory = MemoryStore(**options)
            return self._memory
        store = open_spec(self.spec, **options)
        self.opened.append(store)
        return store

    def close(self) -> None:
        for store in self.opened:
            store.close()
        if self.kind == "postgres":
            from loom.stores.postgres import PostgresStore

            with PostgresStore(self.spec["dsn"], table=self.spec["table"]) as store:
                store.drop()


def open_spec(spec: dict, **options):
    """A store from a StoreBackend spec (tests/stores/worker.py has its twin)."""
    if spec["kind"] == "sqlite":
        from loom.stores.sqlite import SqliteStore

        return SqliteStore(spec["path"], **options)
    from loom.stores.postgres import PostgresStore

    return PostgresStore(spec["dsn"], table=spec["table"], **options)


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest, tmp_path: Path):
    backend = StoreBackend(request.param, tmp_path)
    yield backend
    backend.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def any_store_backend(request: pytest.FixtureRequest, tmp_path: Path):
    backend = StoreBackend(request.param, tmp_path)
    yield backend
    backend.close()
