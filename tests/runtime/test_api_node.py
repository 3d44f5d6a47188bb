"""ApiNode against a small local HTTP app: templating, responses, allow list, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from loom.spec import ApiNode, RemoteTool, ToolNode

from .conftest import linear_flow, prop, props, runtime, serve_app

SECRET = "api-key-SECRET-77"


class App:
    """Echoes what it received; counts requests; fails on demand."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.failures_left = 0

    async def echo(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode()
        seen = {
            "method": request.method,
            "item": request.path_params["item"],
            "query": dict(request.query_params),
            "body": body,
            "headers": {k: v for k, v in request.headers.items() if k.startswith("x-")},
            "content_type": request.headers.get("content-type"),
        }
        self.received.append(seen)
        return JSONResponse(seen)

    async def flaky(self, request: Request) -> Response:
        self.received.append({"path": "flaky"})
        if self.failures_left > 0:
            self.failures_left -= 1
            return JSONResponse({"error": "busy"}, status_code=503)
        return JSONResponse({"status": "ok", "count": 2})

    async def deny(self, request: Request) -> Response:
        self.received.append({"path": "deny"})
        key = request.headers.get("x-api-key", "")
        return PlainTextResponse(f"key {key} is not valid here", status_code=401)

    async def text(self, request: Request) -> Response:
        self.received.append({"path": "text"})
        return PlainTextResponse("just text")

    def routes(self) -> list[Route]:
        return [
            Route("/items/{item}", self.echo, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/flaky", self.flaky),
            Route("/deny", self.deny),
            Route("/text", self.text),
        ]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[App, str]]:
    app = App()
    with serve_app(Starlette(routes=app.routes())) as url:
        yield app, url


@pytest.fixture
def api(server: tuple[App, str]) -> tuple[App, str]:
    app, url = server
    app.received.clear()
    app.failures_left = 0
    return app, url


def api_flow(node: ApiNode, inputs: list[Any] | None = None) -> Any:
    return linear_flow("main", node, inputs=inputs if inputs is not None else node.inputs or [],
                       outputs=node.outputs or [])


def test_templated_url_query_headers_and_json_body(api: tuple[App, str]) -> None:
    app, base = api
    node = ApiNode(
        name="call", http_method="POST", url=base + "/items/{{item}}",
        query_params={"q": "{{query}}", "fixed": "1"},
        headers={"X-Trace": "trace-{{trace}}"},
        sensitive_headers={"X-Api-Key": SECRET},
        data={"name": "{{name}}", "tags": ["{{name}}", "static"], "n": 3},
        outputs=[prop("method"), prop("item"), prop("query", "object"), prop("body", "object")],
    )
    assert sorted(p.title for p in node.inputs or []) == ["item", "name", "query", "trace"]
    result = runtime().run(api_flow(node), {"item": "42", "query": "red shoes", "trace": "t1",
                                            "name": "Ada"})
    assert result.status == "finished", result.error
    assert result.outputs == {
        "method": "POST",
        "item": "42",
        "query": {"q": "red shoes", "fixed": "1"},
        "body": {"name": "Ada", "tags": ["Ada", "static"], "n": 3},
    }
    [seen] = app.received
    assert seen["headers"]["x-trace"] == "trace-t1"
    assert seen["headers"]["x-api-key"] == SECRET  # merged in at execution time
    assert seen["content_type"] == "application/json"


def test_single_output_takes_the_whole_parsed_body(api: tuple[App, str]) -> None:
    _, base = api
    node = ApiNode(name="get", http_method="GET", url=base + "/items/{{item}}")
    assert [p.title for p in node.outputs or []] == ["response"]
    result = runtime().run(api_flow(node), {"item": "7"})
    assert result.status == "finished", result.error
    response = result.outputs["response"]
    assert response["method"] == "GET" and response["item"] == "7"
    assert response["body"] is None  # a GET without data sends no body


def test_non_json_response_is_given_as_text(api: tuple[App, str]) -> None:
    _, base = api
    node = ApiNode(name="get", http_method="GET", url=base + "/text")
    assert runtime().run(api_flow(node)).outputs == {"response": "just text"}


def test_string_data_is_sent_as_is_and_form_data_is_encoded(api: tuple[App, str]) -> None:
    app, base = api
    raw = ApiNode(name="raw", http_method="PUT", url=base + "/items/raw",
                  data="plain {{word}}", outputs=[prop("body"), prop("method")])
    form = ApiNode(name="form", http_method="POST", url=base + "/items/form",
                   headers={"Content-Type": "application/x-www-form-urlencoded"},
                   data={"a": "{{word}}", "b": "2"}, outputs=[prop("content_type"), prop("item")])
    flow = linear_flow("main", raw, form, inputs=props(word="string"),
                       outputs=[prop("body"), prop("method"), prop("content_type"), prop("item")])
    result = runtime().run(flow, {"word": "hello"})
    assert result.status == "finished", result.error
    assert result.outputs["body"] == "plain hello"
    assert result.outputs["method"] == "PUT"
    assert result.outputs["content_type"] == "application/x-www-form-urlencoded"
    assert app.received[1]["body"] == "a=hello&b=2"


def test_missing_response_field_fails_naming_it(api: tuple[App, str]) -> None:
    _, base = api
    node = ApiNode(name="call", http_method="GET", url=base + "/items/1",
                   outputs=[prop("method"), prop("absent")])
    result = runtime().run(api_flow(node))
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > call"
    assert "the response has no field 'absent'" in result.error.message
    with_default = ApiNode(name="call", http_method="GET", url=base + "/items/1",
                           outputs=[prop("method"), prop("absent", default="none")])
    assert runtime().run(api_flow(with_default)).outputs == {"method": "GET", "absent": "none"}


def test_url_allow_list_admits_matching_prefixes_only(api: tuple[App, str]) -> None:
    app, base = api
    allowed = [base + "/items/"]
    ok = ApiNode(name="call", http_method="GET", url=base + "/items/{{item}}",
                 url_allow_list=allowed)
    assert runtime().run(api_flow(ok), {"item": "1"}).status == "finished"
    assert len(app.received) == 1
    for url in (base + "/text", base.replace("127.0.0.1", "localhost") + "/items/1",
                base.replace("http:", "https:") + "/items/1"):
        node = ApiNode(name="call", http_method="GET", url=url, url_allow_list=allowed)
        result = runtime().run(api_flow(node))
        assert result.status == "failed" and result.error is not None
        assert result.error.node == "main > call"
        assert f"URL '{url}' is not in the node's url_allow_list" in result.error.message
    assert len(app.received) == 1  # refused calls never left the process


@pytest.mark.parametrize("item", ["../text", "..%2Ftext", "%2e%2e/text", "./../text"])
def test_url_allow_list_cannot_be_escaped_with_dot_segments(
    api: tuple[App, str], item: str
) -> None:
    app, base = api
    node = ApiNode(name="call", http_method="GET", url=base + "/items/{{item}}",
                   url_allow_list=[base + "/items/"])
    result = runtime().run(api_flow(node), {"item": item})
    assert result.status == "failed" and result.error is not None
    assert "is not in the node's url_allow_list" in result.error.message
    assert app.received == []


def test_url_allow_list_admits_urls_that_normalize_inside_the_prefix(
    api: tuple[App, str]
) -> None:
    _, base = api
    node = ApiNode(name="call", http_method="GET", url=base.upper() + "/items/./{{item}}",
                   url_allow_list=[base + "/items/"], outputs=[prop("item"), prop("method")])
    assert runtime().run(api_flow(node), {"item": "a"}).outputs == {"item": "a", "method": "GET"}


def test_server_errors_are_retried_per_the_retry_policy(api: tuple[App, str]) -> None:
    app, base = api
    policy = {"max_attempts": 2, "initial_retry_delay": 0.01, "max_retry_delay": 0.02}
    node = ApiNode(name="call", http_method="GET", url=base + "/flaky", retry_policy=policy,
                   outputs=[prop("status"), prop("count", "integer")])
    app.failures_left = 2
    assert runtime().run(api_flow(node)).outputs == {"status": "ok", "count": 2}
    assert len(app.received) == 3
    app.received.clear()
    app.failures_left = 5
    result = runtime().run(api_flow(node))
    assert result.status == "failed" and result.error is not None
    assert "answered HTTP 503" in result.error.message
    assert len(app.received) == 3


def test_http_error_does_not_leak_sensitive_headers(api: tuple[App, str]) -> None:
    app, base = api
    node = ApiNode(name="call", http_method="GET", url=base + "/deny",
                   sensitive_headers={"X-Api-Key": SECRET})
    result = runtime().run(api_flow(node))
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > call"
    assert "answered HTTP 401" in result.error.message
    assert "is not valid here" in result.error.message
    assert SECRET not in result.error.message
    assert SECRET not in str(result.exception)
    assert len(app.received) == 1  # 401 is not retried


def test_unreachable_host_fails_with_the_url() -> None:
    node = ApiNode(name="call", http_method="GET", url="http://127.0.0.1:9/nothing",
                   retry_policy={"max_attempts": 0})
    result = runtime().run(api_flow(node))
    assert result.status == "failed" and result.error is not None
    assert "GET http://127.0.0.1:9/nothing failed: ConnectError" in result.error.message


def test_tool_node_runs_a_remote_tool_as_a_templated_request(api: tuple[App, str]) -> None:
    app, base = api
    tool = RemoteTool(
        name="lookup", http_method="GET", url=base + "/items/{{item}}",
        query_params={"q": "{{item}}"},
        outputs=[prop("item"), prop("query", "object")],
    )
    assert [p.title for p in tool.inputs or []] == ["item"]
    flow = linear_flow("main", ToolNode(name="call", tool=tool), inputs=tool.inputs or [],
                       outputs=tool.outputs or [])
    result = runtime().run(flow, {"item": "kayak"})
    assert result.status == "finished", result.error
    assert result.outputs == {"item": "kayak", "query": {"q": "kayak"}}
    assert [seen["method"] for seen in app.received] == ["GET"]
