"""The OpenAPI descriptions of the OpenAI and A2A doors (merged into
:data:`loom.server.openapi.OPERATIONS`)."""

from __future__ import annotations

from typing import Any

_COMPONENT_ID = {"name": "component_id", "in": "path", "required": True,
                 "schema": {"type": "string"}}
_OPENAI_ERROR = {"description": "an error in OpenAI's shape", "content": {"application/json": {
    "schema": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["message", "type", "code"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                       "param": {"type": ["string", "null"]},
                       "code": {"type": ["string", "null"]}}}}}}}}
_ANSWER = {"description": "the answer (text/event-stream when stream is true)",
           "content": {"application/json": {"schema": {"type": "object"}},
                       "text/event-stream": {"schema": {"type": "string"}}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _OPENAI_ERROR for status in statuses}


DOOR_OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/models", "get"): {
        "summary": "the served components as OpenAI models",
        "responses": {"200": {"description": "models", "content": {"application/json": {
            "schema": {"type": "object"}}}}, **_errors(401)}},
    ("/v1/chat/completions", "post"): {
        "summary": "run a component (model = its id) on the last user message, or answer "
        "its client tool calls with tool messages",
        "requestBody": _body({"type": "object", "required": ["model", "messages"],
                              "properties": {"model": {"type": "string"},
                                             "messages": {"type": "array",
                                                          "items": {"type": "object"}},
                                             "stream": {"type": "boolean"}}}),
        "responses": {"200": _ANSWER, **_errors(400, 401, 404, 409, 413, 422, 429)}},
    ("/v1/responses", "post"): {
        "summary": "run a component (model = its id); previous_response_id continues its run",
        "requestBody": _body({"type": "object", "required": ["model", "input"],
                              "properties": {"model": {"type": "string"},
                                             "input": {"type": ["string", "array"]},
                                             "previous_response_id": {"type": "string"},
                                             "stream": {"type": "boolean"}}}),
        "responses": {"200": _ANSWER, **_errors(400, 401, 404, 409, 413, 422, 429)}},
    ("/a2a/{component_id}/.well-known/agent-card.json", "get"): {
        "summary": "the component's A2A agent card", "parameters": [_COMPONENT_ID],
        "responses": {"200": {"description": "the agent card", "content": {
            "application/json": {"schema": {"type": "object"}}}}}},
    ("/a2a/{component_id}/", "post"): {
        "summary": "the component as an A2A agent (JSON-RPC)", "parameters": [_COMPONENT_ID],
        "requestBody": _body({"type": "object"}),
        "responses": {"200": {"description": "a JSON-RPC answer"}}},
    ("/a2a/{component_id}", "post"): {
        "summary": "the component as an A2A agent (JSON-RPC)", "parameters": [_COMPONENT_ID],
        "requestBody": _body({"type": "object"}),
        "responses": {"200": {"description": "a JSON-RPC answer"}}},
}
