"""Tokens, limits, CORS and secrets of the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loom import dumps
from loom.cli import main
from loom.errors import LoomError
from loom.server import ServerConfig, create_app
from loom.server.config import check_bind, read_tokens
from loom.spec import LlmNode, OpenAiCompatibleConfig
from loom.testing import FakeLlmServer, serve_asgi

from .conftest import Release, until
from .helpers import chain, prop

SECRET = "sk-very-secret-key-4711"


def test_without_a_token_nothing_but_the_probes_answers(make_server: Any) -> None:
    client = make_server(tokens=("token-a", "token-b"))
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    refused = client.get("/v1/components")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["error"]["code"] == "unauthorized"
    for wrong in ("Bearer token-c", "Bearer token-a2", "Basic token-a", "token-a"):
        assert client.get("/v1/components", headers={"Authorization": wrong}).status_code == 401
    for right in ("token-a", "token-b"):
        ok = client.get("/v1/components", headers={"Authorization": f"Bearer {right}"})
        assert ok.status_code == 200


def test_tokens_come_from_the_file_and_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text("# the ops team\nalpha\n\n beta \n")
    assert read_tokens(str(file), {"LOOM_SERVER_TOKENS": "gamma, delta,"}) == [
        "gamma", "delta", "alpha", "beta"]
    assert read_tokens(None, {}) == []
    (tmp_path / "empty").write_text("# nothing\n")
    with pytest.raises(LoomError, match="holds no token"):
        read_tokens(str(tmp_path / "empty"), {})


def test_a_public_address_needs_a_token(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    check_bind("127.0.0.1", [])
    check_bind("::1", [])
    check_bind("0.0.0.0", ["t"])
    with pytest.raises(LoomError, match="refusing to serve 0.0.0.0 without a token"):
        check_bind("0.0.0.0", [])
    monkeypatch.delenv("LOOM_SERVER_TOKENS", raising=False)
    assert main(["serve", str(tmp_path), "--host", "0.0.0.0"]) == 1
    assert "refusing to serve 0.0.0.0 without a token" in capsys.readouterr().err


def test_a_body_over_the_limit_is_413(make_server: Any) -> None:
    client = make_server(max_body=200)
    big = {"inputs": {"text": "x" * 500}}
    response = client.post("/v1/components/summarizer/runs", json=big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"inputs": {"text": "'
        for _ in range(10):
            yield b"y" * 50
        yield b'"}}'

    streamed = client.post("/v1/components/summarizer/runs", content=chunks(),
                           headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    small = client.post("/v1/components/summarizer/runs", json={"inputs": {"text": "ok"}})
    assert small.status_code == 202


def test_each_token_has_its_own_limit_of_runs_at_once(make_server: Any, release: Release
                                                      ) -> None:
    client = make_server(tokens=("a", "b"), runs_per_token=1)
    as_a = {"Authorization": "Bearer a"}
    first = client.post("/v1/components/slow/runs", json={"inputs": {"x": "1"}}, headers=as_a)
    assert first.status_code == 202
    until(release.started.is_set)
    second = client.post("/v1/components/slow/runs", json={"inputs": {"x": "2"}}, headers=as_a)
    assert second.status_code == 429 and second.json()["error"]["code"] == "too_many_runs"
    other = client.post("/v1/components/slow/runs", json={"inputs": {"x": "3"}},
                        headers={"Authorization": "Bearer b"})
    assert other.status_code == 202
    release.event.set()
    run_id = first.json()["run_id"]
    until(lambda: client.get(f"/v1/runs/{run_id}", headers=as_a).json()["status"] == "finished")
    until(lambda: client.post("/v1/components/slow/runs", json={"inputs": {"x": "4"}},
                              headers=as_a).status_code == 202)


def test_cors_is_off(client: httpx.Client) -> None:
    origin = {"Origin": "https://evil.example"}
    response = client.get("/v1/components", headers=origin)
    assert response.status_code == 200
    assert not any(name.startswith("access-control-") for name in response.headers)
    preflight = client.options("/v1/components", headers={
        **origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 405
    assert not any(name.startswith("access-control-") for name in preflight.headers)


def test_secrets_are_in_no_response_and_no_event(tmp_path: Path) -> None:
    with FakeLlmServer() as llm:
        config = OpenAiCompatibleConfig(name="keyed", model_id="fake-model", url=llm.url,
                                        api_key=SECRET)
        node = LlmNode(name="say", llm_config=config, prompt_template="Say {{text}}",
                       outputs=[prop("said")])
        flow = chain("keyed", node, inputs=[prop("text")], outputs=[prop("said")])
        app = create_app(config=ServerConfig(store_url=f"sqlite:///{tmp_path}/s.sqlite3"),
                         components={"keyed": flow})
        with serve_asgi(app, lifespan="on") as url, httpx.Client(base_url=url) as client:
            seen = [client.get("/v1/components").text, client.get("/v1/components/keyed").text,
                    client.get("/v1/components/keyed/graph").text]
            run = client.post("/v1/components/keyed/runs", params={"wait": 10},
                              json={"inputs": {"text": "hello"}})
            assert run.json()["status"] == "finished"
            events = client.get(f"/v1/runs/{run.json()['run_id']}/events").text
            assert "LlmGenerationRequest" in events
            seen += [events, client.get("/v1/runs").text]
        assert llm.requests, "the key was sent to the LLM"
    for text in seen:
        assert SECRET not in text
    assert SECRET in dumps(flow, include_sensitive=True)
