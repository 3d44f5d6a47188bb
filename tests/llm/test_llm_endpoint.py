"""Endpoint URL handling, env overrides, request bodies, response parsing."""

from __future__ import annotations

import pytest

from loom.errors import LlmHttpError
from loom.llm import LlmEndpoint, apply_overrides, overrides_from_env
from loom.llm.endpoint import chat_completions_url
from loom.llm.parsing import MalformedResponse, StreamAssembler, parse_completion
from loom.llm.request import build_chat_body


@pytest.mark.parametrize(
    "url",
    [
        "http://h:1",
        "http://h:1/",
        "http://h:1/v1",
        "http://h:1/v1/",
        "http://h:1/v1/chat/completions",
    ],
)
def test_chat_completions_url(url: str) -> None:
    assert chat_completions_url(url) == "http://h:1/v1/chat/completions"


def test_chat_completions_url_keeps_a_path_prefix() -> None:
    assert chat_completions_url("https://x/api/v1") == "https://x/api/v1/chat/completions"
    assert chat_completions_url("https://x/api") == "https://x/api/v1/chat/completions"


def test_api_key_is_not_in_repr() -> None:
    endpoint = LlmEndpoint(url="http://h", model="m", api_key="sk-hidden")
    assert "sk-hidden" not in repr(endpoint)


def test_overrides_from_env_ignores_empty_values() -> None:
    env = {"LOOM_LLM_URL": "http://other:9", "LOOM_LLM_MODEL": "", "LOOM_LLM_API_KEY": "k"}
    assert overrides_from_env(env) == {"url": "http://other:9", "api_key": "k"}


def test_overrides_from_process_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOM_LLM_MODEL", "big-model")
    monkeypatch.delenv("LOOM_LLM_URL", raising=False)
    monkeypatch.delenv("LOOM_LLM_API_KEY", raising=False)
    endpoint = LlmEndpoint(url="http://h", model="m", api_key="old")

    changed = apply_overrides(endpoint, **overrides_from_env())

    assert changed.model == "big-model"
    assert changed.url == "http://h"
    assert changed.api_key == "old"


def test_apply_overrides_without_values_returns_the_same_endpoint() -> None:
    endpoint = LlmEndpoint(url="http://h", model="m")
    assert apply_overrides(endpoint) is endpoint
    assert apply_overrides(endpoint, url="http://x", api_key="k").url == "http://x"


def test_body_cannot_override_model_or_messages() -> None:
    endpoint = LlmEndpoint(url="http://h", model="m", generation_params={"model": "evil"})
    body = build_chat_body(endpoint, [{"role": "user", "content": "q"}])
    assert body["model"] == "m"


def test_parse_completion_with_content_parts_and_object_arguments() -> None:
    result = parse_completion(
        {
            "choices": [
                {
                    "message": {
                        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                        "tool_calls": [
                            {"id": "1", "function": {"name": "f", "arguments": {"x": 1}}}
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "details": {"x": 1}},
        }
    )
    assert result.text == "ab"
    assert result.tool_calls[0].arguments == '{"x": 1}'
    assert result.usage == {"prompt_tokens": 3, "completion_tokens": 4}


@pytest.mark.parametrize(
    "data",
    [[], {}, {"choices": []}, {"choices": [{}]}, {"error": {"message": "boom"}}],
)
def test_parse_completion_rejects_non_completions(data: object) -> None:
    with pytest.raises(MalformedResponse):
        parse_completion(data)


def test_stream_assembler_joins_split_tool_call_names() -> None:
    assembler = StreamAssembler()
    for delta in (
        {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "get_", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"name": "weather", "arguments": '{"a"'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]},
    ):
        assembler.feed({"choices": [{"delta": delta}]})
    assembler.feed({"choices": [{"delta": {}, "finish_reason": "tool_calls"}]})
    [call] = assembler.result().tool_calls
    assert (call.id, call.name, call.arguments) == ("c", "get_weather", '{"a": 1}')


def test_http_error_masks_an_echoed_key() -> None:
    error = LlmHttpError(401, "bad key sk-echoed", url="http://h", model="m", secret="sk-echoed")
    assert "sk-echoed" not in str(error)
    assert "***" in error.body
