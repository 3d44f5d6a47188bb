"""Large maps run in child workflows: batches of items per child, the local result,
each tool once, and clear failures (a failing item, a wait, which a child cannot do)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

from loom.spec.nodes import InputMessageNode, MapNode, ParallelMapNode
from loom.temporal import connect
from runtime.conftest import linear_flow, prop
from temporal.backends import backend, replay
from temporal.test_continuation import mapped
from temporal.test_scenarios import Counted

pytestmark = pytest.mark.timeout(600)


async def children_of(server: str, run_id: str) -> int:
    client = await connect(server)
    history = await client.get_workflow_handle(run_id).fetch_history()
    started = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    return sum(1 for event in history.events if event.event_type == started)


async def mapped_on_both(server: str, queue: str, kind: type, items: int, batch: int | None,
                         **options: Any) -> tuple[Any, Counted, dict[str, float]]:
    outcomes, took = [], {}
    for where in ("local", "temporal"):
        counted = Counted(scale=lambda value: value * 3)
        async with backend(where, server, queue, counted.tools, map_batch=batch,
                           **options) as runtime:
            began = time.perf_counter()
            result = await runtime.arun(mapped(kind), {"iterated_value": list(range(items))})
            took[where] = time.perf_counter() - began
        assert result.status == "finished", result.error
        outcomes.append((result, counted))
    (local, local_calls), (remote, remote_calls) = outcomes
    assert remote.outputs == local.outputs == {"collected_scaled": [3 * i for i in range(items)]}
    assert remote.messages == local.messages
    assert remote_calls.calls == local_calls.calls == {"scale": items}
    await replay(server, remote.run_id)
    return remote, remote_calls, took


async def test_a_parallel_map_goes_to_child_workflows(temporal_server, task_queue) -> None:
    result, _, _ = await mapped_on_both(temporal_server, task_queue, ParallelMapNode, 1_000, 200)
    assert await children_of(temporal_server, result.run_id) == 5


async def test_a_sequential_map_runs_its_children_one_after_another(
    temporal_server, task_queue
) -> None:
    result, _, _ = await mapped_on_both(temporal_server, task_queue, MapNode, 250, 100)
    assert await children_of(temporal_server, result.run_id) == 3


async def test_thousands_of_items_in_batches_of_the_default_size(
    temporal_server, task_queue
) -> None:
    # 10,000 items take ~145 s here under a load of 12 on 2 cores (1.9 s locally): the
    # suite runs 2,000, in 4 children of 500.
    result, _, took = await mapped_on_both(temporal_server, task_queue, ParallelMapNode,
                                           2_000, None)
    assert await children_of(temporal_server, result.run_id) == 4
    print(f"2,000 items: local {took['local']:.2f} s, Temporal {took['temporal']:.1f} s")


async def test_a_failing_item_names_its_batch(temporal_server, task_queue) -> None:
    def scale(value: int) -> int:
        if value == 150:
            raise ValueError("no 150")
        return value

    async with backend("temporal", temporal_server, task_queue, {"scale": scale},
                       map_batch=100) as runtime:
        result = await runtime.arun(mapped(ParallelMapNode),
                                    {"iterated_value": list(range(300))})
    assert result.status == "failed"
    assert result.error is not None and result.error.node == "main > each"
    assert "items 100-199" in result.error.message and "no 150" in result.error.message


async def test_a_wait_inside_a_large_map_fails_clearly(temporal_server, task_queue) -> None:
    ask = InputMessageNode(name="ask", message="ok?", outputs=[prop("reply")])
    sub = linear_flow("item", ask, inputs=[prop("value", "integer")], outputs=[prop("reply")])
    node = ParallelMapNode(name="each", subflow=sub)
    flow = linear_flow("main", node, inputs=[prop("iterated_value", {"type": "array",
                       "items": {"type": "integer"}})], outputs=node.outputs or [])
    async with backend("temporal", temporal_server, task_queue, {}, map_batch=10) as runtime:
        result = await runtime.arun(flow, {"iterated_value": list(range(30))})
    assert result.status == "failed"
    assert result.error is not None and "cannot wait for answers" in result.error.message
