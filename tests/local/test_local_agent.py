"""An Agent on the real local model calls a ServerTool and answers with its result.

It runs on loom's chat format for llama.cpp (``loom-tools``, :mod:`loom.local.tools_format`):
the model chooses to call ``get_weather``, its arguments are constrained to the
tool's schema, the result is shown to it, and it answers in text. Temperature 0 and a
fixed seed: the same answer every run. llama.cpp's own ``chatml-function-calling``
could not do this: it leaves ``role: tool`` messages out of the prompt and answers
text as "" whenever tools are offered, so the agent called again until its bound.
"""

from __future__ import annotations

import pytest

import loom
from loom.local import LocalLlm
from loom.spec.agents import Agent
from loom.spec.tools import ServerTool
from runtime.conftest import prop

from .conftest import config

pytestmark = pytest.mark.timeout(600)


def test_an_agent_calls_a_server_tool_once_and_answers_with_its_result(
    tools_llm: LocalLlm,
) -> None:
    weather = ServerTool(name="get_weather", description="The current weather in a city",
                         inputs=[prop("city")], outputs=[prop("weather")])
    agent = Agent(
        name="forecaster", llm_config=config(tools_llm, max_tokens=40),
        system_prompt="You are a helpful assistant. Always use the tools to answer. "
        "What is the weather in {{city}}? Call get_weather.",
        inputs=[prop("city")], tools=[weather], human_in_the_loop=False,
    )
    calls: list[dict[str, str]] = []

    def get_weather(city: str) -> str:
        calls.append({"city": city})
        return "23 C and windy"  # made up: only the tool's result says 23

    with loom.Runtime(tools={"get_weather": get_weather}, use_env=False,
                      max_iterations=3) as runtime:
        result = runtime.run(agent, {"city": "Lisbon"})
        learned = runtime.services.llm_client(agent.llm_config).adaptations
    assert result.status == "finished", result.error
    assert calls == [{"city": "Lisbon"}]  # once: after the result the model answers
    call, answer = result.messages[0], result.messages[-1]
    assert call["role"] == "assistant" and call["tool_calls"][0]["function"]["name"] == (
        "get_weather")
    assert result.messages[1] == {**result.messages[1], "role": "tool",
                                  "content": "23 C and windy"}
    assert answer["role"] == "assistant" and not answer.get("tool_calls")
    assert "23" in answer["content"], answer["content"]
    # The call's assistant message has no text: loom sends null content (as OpenAI does), the
    # server refuses it with a 500, and the client learned to send "" instead.
    assert "null_content" in learned
