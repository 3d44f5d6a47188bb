"""An Agent on the real local model calls a ServerTool.

What SmolLM2-135M on llama.cpp's server can do here, measured: with the
``chatml-function-calling`` chat format and a system prompt naming the tool
it calls it with the right arguments (the server constrains the call to the
tool's schema). That chat format does not render ``role: tool`` messages, so
the model never sees the tool's result: the test checks the call and that the
agent finishes with the model's own text, not that the text uses the result.
"""

from __future__ import annotations

from typing import Any

import pytest

import loom
from loom.local import LocalLlm
from loom.spec.agents import Agent
from loom.spec.tools import ServerTool
from runtime.conftest import prop

from .conftest import config

pytestmark = pytest.mark.timeout(600)


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
                      max_iterations=2) as runtime:
        result = runtime.run(agent, {"city": "Lisbon"})
        learned = runtime.services.llm_client(agent.llm_config).adaptations
    assert calls and calls[0] == {"city": "Lisbon"}, calls
    first = result.messages[0]
    assert first["role"] == "assistant" and first["tool_calls"][0]["function"]["name"] == (
        "get_weather")
    assert result.messages[1] == {**result.messages[1], "role": "tool", "content": "sunny, 24 C"}
    # The call's assistant message has no text: loom sends null content (as OpenAI does), the
    # server refuses it with a 500, and the client learned to send "" instead.
    assert "null_content" in learned
    # What the model cannot do here: it never sees the result (the chat format drops
    # role: tool messages), so it calls again until the agent's bound stops it.
    assert len(calls) == 2 and result.status == "failed"
    assert result.error is not None and "limit of 2 LLM calls" in result.error.message
