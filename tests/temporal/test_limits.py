"""Temporal's limits: a value over its 2 MB payload limit fails the run at once, with the
tool called once or not at all (Temporal would refuse it on every retry)."""

from __future__ import annotations

import pytest

import loom
from runtime.conftest import linear_flow, prop, tool_node
from temporal.backends import backend

pytestmark = pytest.mark.timeout(60)


async def test_a_result_over_the_payload_limit_is_never_retried(
    temporal_server: str, task_queue: str
) -> None:
    calls = []

    def big() -> str:
        calls.append(1)
        return "x" * 3_000_000

    flow = linear_flow("main", tool_node("big", [], [prop("blob")]), outputs=[prop("blob")])
    async with backend("temporal", temporal_server, task_queue, {"big": big}) as runtime:
        result = await runtime.arun(flow, {})
    assert result.status == "failed"
    assert result.error is not None and result.error.node == "main > big"
    assert "over Temporal's payload limit of 2,000,000" in result.error.message
    assert calls == [1]


async def test_arguments_over_the_payload_limit_fail_before_any_call(
    temporal_server: str, task_queue: str
) -> None:
    calls = []
    flow = linear_flow("main", tool_node("make_a", [], [prop("a")]),
                       tool_node("make_b", [], [prop("b")]),
                       tool_node("size", [prop("a"), prop("b")], [prop("n", "integer")]),
                       outputs=[prop("n", "integer")])
    tools = {"make_a": lambda: "a" * 1_200_000, "make_b": lambda: "b" * 1_200_000,
             "size": lambda a, b: calls.append(1) or len(a + b)}
    async with backend("temporal", temporal_server, task_queue, tools) as runtime:
        result = await runtime.arun(flow, {})
        with pytest.raises(loom.LoomError, match=r"the run \(its flow and inputs\) is 3,0\d\d,\d\d\d bytes, over"):
            await runtime.arun(flow, {"a": "x" * 3_000_000})
    assert result.status == "failed"
    assert result.error is not None and result.error.node == "main > size"
    assert "over Temporal's payload limit" in result.error.message
    assert calls == []
