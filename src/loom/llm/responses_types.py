"""The shapes of OpenAI's Responses API that loom sends and reads, as TypedDicts.

Only the parts loom uses: text messages, function tools and their calls and
results, the ``text.format`` JSON schema, usage. The client, the test server
and servers speaking the API to others all write and read these.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias, TypedDict


class InputMessage(TypedDict):
    type: Literal["message"]
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[dict[str, Any]]


class _FunctionCall(TypedDict):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str


class FunctionCall(_FunctionCall, total=False):
    """A call the model made; ``call_id`` pairs it with its output."""

    id: str
    status: str


class FunctionCallOutput(TypedDict):
    type: Literal["function_call_output"]
    call_id: str
    output: str


InputItem: TypeAlias = InputMessage | FunctionCall | FunctionCallOutput


class FunctionTool(TypedDict):
    type: Literal["function"]
    name: str
    description: str | None
    parameters: dict[str, Any] | None
    strict: bool | None


class JsonSchemaFormat(TypedDict):
    type: Literal["json_schema"]
    name: str
    schema: dict[str, Any]
    strict: bool | None


class TextConfig(TypedDict, total=False):
    format: JsonSchemaFormat


class ResponsesRequest(TypedDict, total=False):
    """A ``POST /v1/responses`` body; generation parameters may add more keys."""

    model: str
    input: str | list[InputItem]
    instructions: str | None
    tools: list[FunctionTool]
    text: TextConfig
    stream: bool
    store: bool
    max_output_tokens: int
    temperature: float
    top_p: float


class OutputText(TypedDict):
    type: Literal["output_text"]
    text: str
    annotations: list[Any]


class OutputMessage(TypedDict):
    type: Literal["message"]
    id: str
    role: Literal["assistant"]
    status: str
    content: list[OutputText]


OutputItem: TypeAlias = OutputMessage | FunctionCall


class ResponsesUsage(TypedDict):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: dict[str, int]
    output_tokens_details: dict[str, int]


USAGE_NAMES: dict[str, str] = {
    "input_tokens": "prompt_tokens",
    "output_tokens": "completion_tokens",
    "total_tokens": "total_tokens",
}
"""Responses usage names -> the chat-completions names loom's counts use."""
