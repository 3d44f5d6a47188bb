"""Where an LLM call's API key comes from, seen in the Authorization header the
test server received: OpenAiConfig falls back on ``OPENAI_API_KEY``, other
configs do not, and the config's own key wins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import loom
from loom.spec import ControlFlowEdge, EndNode, Flow, LlmNode, StartNode, StringProperty
from loom.spec.llms import LlmConfig, OpenAiCompatibleConfig, OpenAiConfig
from loom.testing import FakeLlmServer

ENV_KEY = "sk-from-openai-env-3e2d1c"


def llm_flow(config: LlmConfig) -> Flow:
    start = StartNode(name="start")
    ask = LlmNode(name="ask", llm_config=config, prompt_template="say hi",
                  outputs=[StringProperty(title="answer")])
    end = EndNode(name="end", outputs=[StringProperty(title="answer")])
    return Flow(
        name="ask_flow", start_node=start, nodes=[start, ask, end],
        control_flow_connections=[
            ControlFlowEdge(name="e1", from_node=start, to_node=ask),
            ControlFlowEdge(name="e2", from_node=ask, to_node=end),
        ],
        outputs=[StringProperty(title="answer")],
    )


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("LOOM_LLM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    yield


def authorization(srv: FakeLlmServer, config: LlmConfig) -> str | None:
    """Run one LlmNode on ``config`` (sent to the test server) and return the
    Authorization header the server got."""
    with loom.Runtime(llm={"url": srv.url}, use_env=False) as runtime:
        result = runtime.run(llm_flow(config), {})
    assert result.status == "finished", result.error
    assert result.outputs["answer"]
    [request] = srv.recorded
    return request.headers.get("authorization")


def test_an_openai_config_without_a_key_sends_the_openai_api_key(
    env: None, srv: FakeLlmServer
) -> None:
    config = OpenAiConfig(name="openai", model_id="gpt-4o-mini")
    assert config.api_key is None
    assert authorization(srv, config) == f"Bearer {ENV_KEY}"


def test_an_openai_config_key_wins_over_the_environment(env: None, srv: FakeLlmServer) -> None:
    config = OpenAiConfig(name="openai", model_id="gpt-4o-mini", api_key="sk-config-own-77")
    assert authorization(srv, config) == "Bearer sk-config-own-77"


def test_other_configs_do_not_take_the_openai_api_key(env: None, srv: FakeLlmServer) -> None:
    config = OpenAiCompatibleConfig(name="local", model_id="m", url=srv.url)
    assert authorization(srv, config) is None


def test_an_empty_openai_api_key_sends_no_key(
    monkeypatch: pytest.MonkeyPatch, srv: FakeLlmServer
) -> None:
    monkeypatch.delenv("LOOM_LLM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "")
    assert authorization(srv, OpenAiConfig(name="openai", model_id="gpt-4o-mini")) is None
