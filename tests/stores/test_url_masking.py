"""No credential of a store URL reaches a message: userinfo, query parameters, DSN pairs."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from loom.cli import main
from loom.errors import CheckpointError
from loom.stores import PostgresStore, open_store, store_opener
from loom.stores.base import masked, masked_url

SECRETS = ("hunter2", "s3cr3t-q", "ssl-s3cr3t", "/home/me/.pgpass-s3cr3t")


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def pg_urls(port: int) -> list[str]:
    base = f"127.0.0.1:{port}/nowhere"
    return [
        f"postgresql://loom:hunter2@{base}",
        f"postgresql://loom@{base}?password=s3cr3t-q",
        f"postgres://loom@{base}?sslmode=prefer&PassWord=s3cr3t-q&sslpassword=ssl-s3cr3t",
        f"postgresql://loom:hun%74er2@{base}?passfile=/home/me/.pgpass-s3cr3t",
        f"postgresql://loom@{base}?connect_timeout=2&password=s3cr3t-q#frag",
    ]


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, text
    assert "hun%74er2" not in text


def test_a_postgresql_url_that_cannot_connect_is_masked_in_every_form() -> None:
    port = closed_port()
    for url in pg_urls(port):
        with pytest.raises(CheckpointError) as caught:
            open_store(url)
        message = str(caught.value)
        assert_clean(message)
        assert f"127.0.0.1:{port}/nowhere" in message  # still says which store
        assert "***" in message


def test_a_libpq_dsn_is_masked_too() -> None:
    dsn = (f"host=127.0.0.1 port={closed_port()} dbname=nowhere password=hunter2 "
           "sslpassword='ssl-s3cr3t' connect_timeout=2")
    with pytest.raises(CheckpointError) as caught:
        PostgresStore(dsn)
    assert_clean(str(caught.value))
    assert "password=***" in str(caught.value)


def test_masking_keeps_everything_but_the_credentials() -> None:
    url = "postgresql://u:p%40ss/w@db.example:5432/runs?sslmode=require&password=x1&app=a@b"
    assert masked_url(url) == (
        "postgresql://u:***@db.example:5432/runs?sslmode=require&password=***&app=a@b"
    )
    assert masked_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert masked_url("host=h password=x1 user=u") == "host=h password=*** user=u"
    # A driver's message that repeats a credential (encoded or not) loses it too.
    assert masked("auth failed for p@ss/w and x1", url) == "auth failed for *** and ***"


def test_url_errors_before_any_connection_are_masked() -> None:
    for url in ("mysql://loom:hunter2@h/db?password=s3cr3t-q",
                "sqlite://loom:hunter2@h/x?password=s3cr3t-q"):
        with pytest.raises(CheckpointError) as caught:
            store_opener(url)
        assert_clean(str(caught.value))


def test_the_repr_of_a_store_is_masked() -> None:
    store = object.__new__(PostgresStore)
    store.dsn = "postgresql://loom:hunter2@h/db?password=s3cr3t-q"
    assert_clean(repr(store))


def test_the_cli_never_prints_a_store_password(capsys: Any) -> None:
    port = closed_port()
    for url in pg_urls(port):
        code = main(["runs", "list", "--store", url])
        captured = capsys.readouterr()
        assert code != 0
        assert "cannot connect to the PostgreSQL store" in captured.err
        assert_clean(captured.out + captured.err)
