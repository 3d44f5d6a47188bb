"""``/openapi.json``, written from the app's own routes: each route's operation
comes from :data:`OPERATIONS` (a door adds its own); a route it lacks is still
listed, with its path parameters, so the document never leaves one out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.routing import BaseRoute, Route

from loom import __version__
from loom.server.door_operations import DOOR_OPERATIONS

Operation = dict[str, Any]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {400: "the body is not JSON", 401: "no valid bearer token", 404: "not found",
             409: "a conflict: see the message", 413: "the body is over --max-body",
             422: "invalid input: see the message and where", 429: "too many runs at once",
             503: "the server is shutting down"}
    return {str(status): _json(_ref("Error"), texts[status]) for status in statuses}


_RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}
_COMPONENT_ID = {"name": "component_id", "in": "path", "required": True,
                 "schema": {"type": "string"}}
_WAIT = {"name": "wait", "in": "query", "required": False,
         "description": "seconds to wait for the run to stop running (wait or end)",
         "schema": {"type": "number", "minimum": 0, "maximum": 300}}
_RECORD = _json(_ref("Run"), "the run record")

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/healthz", "get"): {"summary": "the process answers", "security": [],
                          "responses": {"200": _json({"type": "object"}, "ok")}},
    ("/readyz", "get"): {"summary": "ready to take runs (recovery done, not stopping)",
                         "security": [],
                         "responses": {"200": _json({"type": "object"}, "ready"),
                                       "503": _json({"type": "object"}, "not ready")}},
    ("/openapi.json", "get"): {"summary": "this document", "security": [],
                               "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}},
    ("/docs", "get"): {"summary": "the API described in a page (no CDN)", "security": [],
                       "responses": {"200": {"description": "HTML",
                                             "content": {"text/html": {"schema": {}}}}}},
    ("/", "get"): {"summary": "redirects to /docs", "security": [],
                   "responses": {"307": {"description": "to /docs"}}},
    ("/v1/components", "get"): {
        "summary": "the served components",
        "responses": {"200": _json({"type": "object", "required": ["data"], "properties": {
            "data": {"type": "array", "items": _ref("Component")}}}, "components"),
            **_errors(401)}},
    ("/v1/components/{component_id}", "get"): {
        "summary": "a component's document (secrets left out)", "parameters": [_COMPONENT_ID],
        "responses": {"200": _json({"type": "object"}, "the Agent Spec document"),
                      **_errors(401, 404)}},
    ("/v1/components/{component_id}/graph", "get"): {
        "summary": "a component's nodes and edges, or its Mermaid text",
        "parameters": [_COMPONENT_ID, {"name": "format", "in": "query", "required": False,
                                       "schema": {"type": "string",
                                                  "enum": ["json", "mermaid"]}},
                       {"name": "data", "in": "query", "required": False,
                        "description": "1: the data edges too (kind data, or implicit "
                        "when wired by name)", "schema": {"type": "string", "enum": ["0", "1"]}}],
        "responses": {"200": {"description": "the graph", "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/plain": {"schema": {"type": "string"}}}}, **_errors(401, 404, 422)}},
    ("/v1/components/{component_id}/runs", "post"): {
        "summary": "start a run in the background",
        "parameters": [_COMPONENT_ID, _WAIT],
        "requestBody": {"required": False, "content": {"application/json": {
            "schema": _ref("StartRun")}}},
        "responses": {"202": _json(_ref("Run"), "started"),
                      "200": _json(_ref("Run"), "a run with this run_id and these inputs"),
                      **_errors(400, 401, 404, 409, 413, 422, 429, 503)}},
    ("/v1/runs", "get"): {
        "summary": "the runs, oldest first, a page at a time",
        "parameters": [
            {"name": "status", "in": "query", "required": False, "schema": {
                "type": "string", "enum": ["running", "waiting", "finished", "failed",
                                           "cancelled"]}},
            {"name": "component", "in": "query", "required": False,
             "schema": {"type": "string"}},
            {"name": "cursor", "in": "query", "required": False,
             "description": "next_cursor of the page before", "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 500}}],
        "responses": {"200": _json({"type": "object", "required": ["data", "next_cursor"],
                                    "properties": {
                                        "data": {"type": "array", "items": _ref("Run")},
                                        "next_cursor": {"type": ["string", "null"]}}},
                                   "a page of runs"), **_errors(401, 422)}},
    ("/v1/runs/{run_id}", "get"): {"summary": "a run", "parameters": [_RUN_ID],
                                   "responses": {"200": _RECORD, **_errors(401, 404)}},
    ("/v1/runs/{run_id}", "delete"): {
        "summary": "delete a run that does not run", "parameters": [_RUN_ID],
        "responses": {"204": {"description": "deleted"}, **_errors(401, 404, 409)}},
    ("/v1/runs/{run_id}/answers", "post"): {
        "summary": "answer some or all of a waiting run's pending requests",
        "parameters": [_RUN_ID, _WAIT],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": _ref("Answers")}}},
        "responses": {"200": _RECORD, **_errors(400, 401, 404, 409, 413, 422, 429, 503)}},
    ("/v1/runs/{run_id}/cancel", "post"): {
        "summary": "cancel a run (its branches, LLM calls and tools); idempotent",
        "parameters": [_RUN_ID], "responses": {
            "200": _RECORD, "202": _json(_ref("Run"), "another server process runs it and "
                                         "was asked to cancel it (cancel_requested: true); "
                                         "poll the run"),
            **_errors(401, 404, 409)}},
    ("/v1/runs/{run_id}/events", "get"): {
        "summary": "the run's events as Server-Sent Events (id: sequence number, event: "
        "type, data: the --trace JSON line); ends when the run stops running",
        "parameters": [_RUN_ID, {"name": "after", "in": "query", "required": False,
                                 "schema": {"type": "integer", "minimum": 0}},
                       {"name": "Last-Event-ID", "in": "header", "required": False,
                        "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}}],
        "responses": {"200": {"description": "the event stream", "content": {
            "text/event-stream": {"schema": {"type": "string"}}}}, **_errors(401, 404, 422)}},
}

OPERATIONS.update(DOOR_OPERATIONS)

_PENDING = {"type": "object", "required": ["id", "kind", "node", "answer_schema"],
            "properties": {"id": {"type": "string"},
                           "kind": {"enum": ["input", "client_tool", "confirmation"]},
                           "node": {"type": "string"}, "prompt": {"type": ["string", "null"]},
                           "tool_call": {"type": ["object", "null"]},
                           "answer_schema": {"type": "object"}}}
SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message", "where"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "where": {"type": ["string", "null"]}}}}},
    "Component": {"type": "object",
                  "required": ["id", "component_type", "name", "inputs", "outputs"],
                  "properties": {"id": {"type": "string"}, "component_type": {"type": "string"},
                                 "name": {"type": "string"}, "inputs": {"type": "object"},
                                 "outputs": {"type": "object"}}},
    "Run": {"type": "object", "required": ["status", "run_id", "outputs", "messages"],
            "properties": {
                "status": {"enum": ["running", "waiting", "finished", "failed", "cancelled"]},
                "run_id": {"type": "string"}, "component": {"type": ["string", "null"]},
                "outputs": {"type": "object"}, "messages": {"type": "array"},
                "pending": {"type": "array", "items": _PENDING},
                "error": {"type": ["object", "null"]}}},
    "StartRun": {"type": "object", "properties": {
        "inputs": {"type": "object"}, "run_id": {"type": "string", "minLength": 1,
                                                 "maxLength": 200},
        "metadata": {"type": "object"}}},
    "Answers": {"type": "object", "required": ["answers"], "properties": {
        "answers": {"type": "object", "minProperties": 1,
                    "description": "request id -> answer (see each pending answer_schema)"}}},
}


def document(routes: Iterable[BaseRoute],
             extra: Mapping[tuple[str, str], Operation] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (``extra``: the operations of doors)."""
    known = {**OPERATIONS, **(extra or {})}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        for method in sorted(route.methods or ()):
            method = method.lower()
            if method == "head":
                continue
            operation = known.get((route.path, method)) or _bare(route.path)
            paths.setdefault(route.path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "loom serve", "version": __version__,
                 "description": "Flows and agents of Open Agent Spec as a service."},
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }


def _bare(path: str) -> Operation:
    names = re.findall(r"{(\w+)}", path)
    return {"summary": path, "parameters": [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in names], "responses": {"200": {"description": "see the route's module"}}}
