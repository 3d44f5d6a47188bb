"""An MCP result as the value a ServerTool with the same outputs would return.

Structured content (an object) is the value where the server gives it; a single
string output, or none declared, gets the text content; otherwise text holding
JSON is read as such.
"""

from __future__ import annotations

import json
from typing import Any

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

