"""An MCP result onto a tool's declared outputs, as a ServerTool's return value is.

Structured content (an object) is the value where the server gives it; a single
string output, or none declared, gets the text content; otherwise text holding
JSON is read as such.
"""

from __future__ import annotations

import json
from typing import Any

from loom.runtime.tools import split_result
from loom.spec.property import Property


def result_value(outputs: list[Property], result: dict[str, Any]) -> Any:
    """What a ServerTool with these outputs would have returned."""
    structured, text = result["structured"], result["text"]
    if not outputs and (text or structured is None):
        return text  # what the server gives a model to read
    if len(outputs) == 1 and outputs[0].type == "string":
        return text
    if isinstance(structured, dict):
        if len(outputs) == 1 and len(structured) == 1 and outputs[0].type != "object":
            return next(iter(structured.values()))  # a wrapped plain value: {"result": 5}
        return structured
    try:
        return json.loads(text)
    except ValueError:
        return text


def to_outputs(tool: str, outputs: list[Property], result: dict[str, Any]) -> dict[str, Any]:
    """The declared outputs' values (ToolResultError when they do not fit)."""
    return split_result(tool, outputs, result_value(outputs, result))
