"""An Agent on the real local model calls a ServerTool.

What SmolLM2-135M on llama.cpp's server can do here, measured: with the
``chatml-function-calling`` chat format and a system prompt naming the tool
it calls it with the right arguments (the server constrains the call to the
tool's schema). That chat format does not render ``role: tool`` messages, so
the model never sees the tool's result: the test checks the call and that the
agent finishes with the model's own text, not that the text uses the result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import loom
from loom.local import LocalLlm
from loom.spec.agents import Agent
from loom.spec.tools import ServerTool
from runtime.conftest import prop

from .conftest import config, need_local_model

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def tools_llm(local_llm: LocalLlm) -> Iterator[LocalLlm]:
    """A server whose chat format parses tool calls (the session's, if it does)."""
    if local_llm.chat_format == "chatml-function-calling":
        yield local_llm
        return
    need_local_model()
    with LocalLlm(chat_format="chatml-function-calling") as llm:
        yield llm


def test_an_agent_calls_a_server_tool_with_the_right_arguments(tools_llm: LocalLlm) -> None:
    weather = ServerTool(name="get_weather", description="The current weather in a city",
                         inputs=[prop("city")], outputs=[prop("weather")])
    agent = Agent(
        name="forecaster", llm_config=config(tools_llm, max_tokens=40),
        system_prompt="You are a helpful assistant. Always use the tools to answer. "
        "What is the weather in {{city}}? Call get_weather.",
        inputs=[prop("city")], tools=[weather], human_in_the_loop=False,
    )
    calls: list[dict[str, Any]] = []

    def get_weather(city: str) -> str:
        calls.append({"city": city})
        return "sunny, 24 C"

    with loom.Runtime(tools={"get_weather": get_weather}, use_env=False,
                      max_iterations=3) as runtime:
        result = runtime.run(agent, {"city": "Lisbon"})
        learned = runtime.services.llm_client(agent.llm_config).adaptations
    assert calls and calls[0]["city"].lower() == "lisbon", calls
    roles = [m["role"] for m in result.messages]
    assert roles[:2] == ["assistant", "tool"]
    assert json.loads(result.messages[0]["tool_calls"][0]["arguments"]) == {"city": "Lisbon"}
    # The assistant message that called the tool has no text; the server refuses null
    # content, so the client learned to send "" instead.
    assert "null_content" in learned
