"""Secrets never reach what the Python listeners write or export.

Each run is real: the fake LLM server over HTTP, tools that leak the keys into
their outputs (so the keys reach node outputs, the prompt and the echoed
answer), ``OPENAI_API_KEY`` in the environment, and an LLM config whose
``api_key`` comes inline or from the registry. The listeners are built the way
a Python user builds them: no ``secrets=`` and no ``add_secrets_of``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.observability import MASK, REDACTED, SpanBuilder, SpanCollector, TraceFile
from loom.testing import FakeLlmServer

from .conftest import SEED

ENV_KEY = "sk-openai-env-5c4b3a2910"
CONFIG_KEY = "sk-config-inline-8d7e6f"
REGISTRY_KEY = "sk-registry-value-1a2b3c"
ALL_KEYS = (ENV_KEY, CONFIG_KEY, REGISTRY_KEY)


def leaky_tools(config_key: str) -> dict[str, Callable[..., Any]]:
    """The seed's four tools, returning the environment key and the config's key."""
    import os

    def get_current_time() -> str:
        return "09:30 " + os.environ["OPENAI_API_KEY"]

    def get_user_information(username: str) -> dict[str, str]:
        return {"name": username, "token": config_key}

    def get_user_last_purchases(username: str) -> list[dict[str, str]]:
        return [{"item": "tent", "paid_with": os.environ["OPENAI_API_KEY"]}]

    def get_items_on_sale() -> list[dict[str, str]]:
        return []

    return {fn.__name__: fn for fn in (get_current_time, get_user_information,
                                       get_user_last_purchases, get_items_on_sale)}


def keyed_flow(source: str) -> tuple[Any, str]:
    """The seed flow whose LLM config holds a key: inline, or a registry value."""
    text = SEED.read_text()
    assert text.count('"api_key": null') == 1
    if source == "inline":
        return loom.loads(text.replace('"api_key": null', f'"api_key": "{CONFIG_KEY}"')), CONFIG_KEY
    text = text.replace('"api_key": null', '"api_key": {"$component_ref": "llm.api_key"}')
    return loom.loads(text, registry={"llm.api_key": REGISTRY_KEY}), REGISTRY_KEY


@pytest.fixture
def env_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.delenv("LOOM_LLM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    yield ENV_KEY


def run_with(listener: Any, llm: FakeLlmServer, source: str) -> str:
    """Run the keyed seed flow with ``listener`` and check the keys were in play;
    return the key the config held."""
    flow, config_key = keyed_flow(source)
    with loom.Runtime(tools=leaky_tools(config_key), llm={"url": llm.url}, use_env=False,
                      listeners=[listener]) as runtime:
        result = runtime.run(flow, {"username": "alice"})
    assert result.status == "finished", result.error
    # The keys really went through the run: the config's key to the server, and
    # both keys into the prompt through the tools' outputs.
    assert llm.recorded[-1].headers["authorization"] == f"Bearer {config_key}"
    prompt = llm.requests[-1]["messages"][0]["content"]
    assert ENV_KEY in prompt and config_key in prompt
    return config_key


def assert_no_key(text: str, content: bool) -> None:
    leaked = [key for key in ALL_KEYS if key in text]
    assert leaked == []
    if content:
        assert REDACTED in text  # the keys were there, and were scrubbed
    else:
        assert MASK in text


SOURCES = ["inline", "registry"]
CONTENT = pytest.mark.parametrize("content", [False, True], ids=["masked", "with-content"])


@CONTENT
@pytest.mark.parametrize("source", SOURCES)
def test_a_python_trace_file_holds_no_key(
    env_key: str, llm: FakeLlmServer, tmp_path: Path, content: bool, source: str
) -> None:
    path = tmp_path / "run.jsonl"
    with TraceFile(path, include_content=content) as trace:
        run_with(trace, llm, source)
    text = path.read_text()
    assert len(text.splitlines()) >= 40
    assert_no_key(text, content)
    if content:
        outputs = [json.loads(line)["outputs"] for line in text.splitlines()
                   if '"get_current_time_step"' in line and '"NodeExecutionEnd"' in line]
        assert outputs == [{"current_time": f"09:30 {REDACTED}"}]


def test_a_trace_file_made_before_the_key_is_set_still_scrubs_it(
    monkeypatch: pytest.MonkeyPatch, llm: FakeLlmServer, tmp_path: Path
) -> None:
    """The environment is read when the run is traced, not only when the file opens."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = tmp_path / "run.jsonl"
    with TraceFile(path, include_content=True) as trace:
        monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
        run_with(trace, llm, "inline")
    assert_no_key(path.read_text(), content=True)


@CONTENT
@pytest.mark.parametrize("source", SOURCES)
def test_a_span_builder_keeps_no_key(
    env_key: str, llm: FakeLlmServer, content: bool, source: str
) -> None:
    spans = SpanCollector()
    run_with(SpanBuilder([spans], mask_sensitive=not content), llm, source)
    kept: list[Any] = [[s.to_dict(), s.attributes] for s in spans.spans]
    kept += [[e.type, e.attributes] for e in spans.events]
    assert len(spans.events) >= 40
    assert_no_key(json.dumps(kept, default=str), content)


@CONTENT
@pytest.mark.parametrize("source", SOURCES)
def test_the_opentelemetry_exporter_exports_no_key(
    env_key: str, llm: FakeLlmServer, content: bool, source: str
) -> None:
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from loom.observability.otel import OpenTelemetryExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    run_with(OpenTelemetryExporter(provider, include_content=content), llm, source)
    spans = memory.get_finished_spans()
    assert len(spans) == 17
    exported = [span.to_json() for span in spans]
    assert_no_key("\n".join(exported), content)
