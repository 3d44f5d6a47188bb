"""A run's view, as the workflow publishes it, gives the client back the same pending
requests as a local run: a typed client tool keeps its answer_schema."""

from __future__ import annotations

from typing import Any

import pytest

from cli.flows import chain, prop
from loom import Runtime
from loom.spec import ClientTool, ToolNode
from loom.temporal.backend import _result


@pytest.mark.parametrize("outputs", [
    [prop("celsius", "number")],
    [prop("width", "integer"), prop("unit", default="cm")],
    [],
])
def test_a_waiting_client_tool_keeps_its_answer_schema(outputs: list[Any]) -> None:
    tool = ClientTool(name="measure", outputs=outputs)
    flow = chain("measure", ToolNode(name="ask_client", tool=tool), outputs=tuple(outputs))
    local = Runtime().run(flow)
    assert local.status == "waiting"
    rebuilt = _result(local.to_dict())  # the view is the local result's dict
    assert [r.answer_schema() for r in rebuilt.pending] == \
        [r.answer_schema() for r in local.pending]
