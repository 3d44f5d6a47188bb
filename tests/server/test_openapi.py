"""/openapi.json describes every route; /docs needs nothing from elsewhere;
schemathesis, driven by the document, finds no 5xx."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from starlette.routing import Route

from loom.server import ServerConfig, create_app
from loom.server.openapi import OPERATIONS
from loom.testing import FakeLlmServer, serve_asgi

from .helpers import greeter, summarizer, two_asks, write_configs


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    place = tmp_path_factory.mktemp("openapi")
    with FakeLlmServer() as llm:
        configs = write_configs(place / "configs", greeter=greeter(llm.url),
                                summarizer=summarizer(llm.url), two_asks=two_asks())
        app = create_app(config=ServerConfig(directory=configs,
                                             store_url=f"sqlite:///{place}/s.sqlite3"))
        with serve_asgi(app, lifespan="on") as url:
            with httpx.Client(base_url=url) as client:  # a run of each kind to look at
                client.post("/v1/components/greeter/runs", params={"wait": 5}, json={})
                client.post("/v1/components/summarizer/runs", params={"wait": 5},
                            json={"inputs": {"text": "a"}, "run_id": "known"})
            yield url, app


def test_every_route_is_described(served: tuple[str, Any]) -> None:
    url, app = served
    document = httpx.get(url + "/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    routes = {(route.path, method.lower()) for route in app.app.routes
              if isinstance(route, Route) for method in route.methods or () if method != "HEAD"}
    described = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert described == routes
    assert routes <= set(OPERATIONS), "a core route without its own description"
    for (path, _), operation in OPERATIONS.items():
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert names == set(re.findall(r"{(\w+)}", path)), path


def test_the_docs_page_is_self_contained(served: tuple[str, Any]) -> None:
    page = httpx.get(served[0] + "/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in page.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(served[0] + "/", follow_redirects=False).headers["location"] == "/studio/"


def test_no_request_makes_the_server_fail(served: tuple[str, Any]) -> None:
    schema = schemathesis.openapi.from_url(served[0] + "/openapi.json")
    checked = []
    for found in schema.get_all_operations():
        operation = found.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def no_5xx(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        no_5xx()
        checked.append(operation.label)
    described = {f"{m.upper()} {p}" for p, m in OPERATIONS}
    assert set(checked) == described - {"GET /openapi.json"}  # it skips the document itself
