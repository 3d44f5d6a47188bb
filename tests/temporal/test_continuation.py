"""Long runs continue as new: with a low forced threshold a run goes on in several
workflow runs, gives the local result, runs each tool exactly once, and the client
(run, resume) follows the chain by the run id."""

from __future__ import annotations

import time
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Replayer

from loom.spec.nodes import InputMessageNode, MapNode, ParallelMapNode
from loom.temporal import connect
from loom.temporal.claim_check import DirectoryStore
from loom.temporal.converter import data_converter
from loom.temporal.worker import sandbox
from loom.temporal.workflow import LoomRun
from runtime.conftest import linear_flow, prop, tool_subflow
from temporal.backends import backend
from temporal.test_scenarios import INTS, Counted

pytestmark = pytest.mark.timeout(240)
THRESHOLD = 150  # history events: a run continues as new every ~25 tool calls


async def chain_of(server: str, run_id: str, store: Any = None) -> list[str]:
    """The statuses of the run's workflow runs, oldest first; each history replays."""
    client = await connect(server)
    runs = [run async for run in client.list_workflows(f"WorkflowId = '{run_id}'")]
    replayer = Replayer(workflows=[LoomRun], workflow_runner=sandbox(),
                        data_converter=data_converter(store))
    for run in runs:
        history = await client.get_workflow_handle(run_id, run_id=run.run_id).fetch_history()
        await replayer.replay_workflow(history)
    runs.sort(key=lambda run: run.start_time)
    return [run.status.name if run.status else "?" for run in runs]


def scaled(node_kind: type, name: str = "each") -> Any:
    sub = tool_subflow(f"{name}_flow", "scale", [prop("value", "integer")],
                       [prop("scaled", "integer")], node_name=f"{name}_scale")
    return node_kind(name=name, subflow=sub)


def mapped(node_kind: type) -> Any:
    """main: its ``iterated_value`` list, each item scaled by a tool."""
    node = scaled(node_kind)
    return linear_flow("main", node, inputs=[prop("iterated_value", INTS)],
                       outputs=node.outputs or [])


async def on_both(server: str, queue: str, flow: Any, inputs: dict[str, Any],
                  answer: str | None = None, slow: bool = False, **options: Any
                  ) -> tuple[Any, Counted, str]:
    """The run locally and on Temporal (continuing every THRESHOLD events): both
    results, which must be equal, and the tools' calls, which must be too.
    ``slow``: calls take 0-30 ms, so that some are in flight across workflow tasks."""

    def scale(value: int) -> int:
        if slow:
            time.sleep(0.01 * (value % 4))
        return value * 3

    outcomes = []
    for kind in ("local", "temporal"):
        counted = Counted(scale=scale)
        async with backend(kind, server, queue, counted.tools, continue_after=THRESHOLD,
                           **options) as runtime:
            result = await runtime.arun(flow, inputs)
            if answer is not None:
                assert result.status == "waiting", result.error
                [request] = result.pending
                result = await runtime.aresume(result.run_id, {request.id: answer})
        outcomes.append((result, counted))
    (local, local_calls), (remote, remote_calls) = outcomes
    assert remote.status == "finished", remote.error
    assert {**remote.to_dict(), "run_id": None} == {**local.to_dict(), "run_id": None}
    assert remote_calls.calls == local_calls.calls
    return remote, remote_calls, remote.run_id


async def test_a_long_chain_continues_as_new_and_runs_each_tool_once(
    temporal_server: str, task_queue: str
) -> None:
    result, counted, run_id = await on_both(temporal_server, task_queue, mapped(MapNode),
                                            {"iterated_value": list(range(120))})
    assert result.outputs == {"collected_scaled": [3 * i for i in range(120)]}
    assert counted.calls == {"scale": 120}
    statuses = await chain_of(temporal_server, run_id)
    assert len(statuses) >= 4, statuses
    assert statuses[:-1] == ["CONTINUED_AS_NEW"] * (len(statuses) - 1)
    assert statuses[-1] == WorkflowExecutionStatus.COMPLETED.name


async def test_parallel_calls_in_flight_come_back_before_the_run_continues(
    temporal_server: str, task_queue: str
) -> None:
    result, counted, run_id = await on_both(temporal_server, task_queue,
                                            mapped(ParallelMapNode),
                                            {"iterated_value": list(range(200))},
                                            max_concurrency=16, slow=True)
    assert counted.calls == {"scale": 200}
    assert len(await chain_of(temporal_server, run_id)) >= 3


async def test_a_wait_and_its_answer_across_continued_runs(
    temporal_server: str, task_queue: str, tmp_path: Any
) -> None:
    first, second = scaled(MapNode, "first"), scaled(MapNode, "second")
    ask = InputMessageNode(name="ask", message="go on?", outputs=[prop("reply")])
    flow = linear_flow("main", first, ask, second, inputs=[prop("iterated_value", INTS)],
                       outputs=[*(second.outputs or []), prop("reply")])
    store = DirectoryStore(tmp_path)  # the journal, once large, goes there
    result, counted, run_id = await on_both(
        temporal_server, task_queue, flow, {"iterated_value": list(range(60))},
        answer="yes", claim_check=store)
    assert result.outputs["reply"] == "yes"
    assert counted.calls == {"scale": 120}
    statuses = await chain_of(temporal_server, run_id, store)
    assert len(statuses) >= 4, statuses



@pytest.mark.parametrize("with_store", [True, False])
async def test_a_journal_over_the_payload_limit(
    temporal_server: str, task_queue: str, tmp_path: Any, with_store: bool
) -> None:
    """40 results of 100 KB: a 4 MB journal goes on through the claim-check store; with
    no store it cannot be carried, and the run finishes in one history instead (its
    outputs left small: without a store they must fit in 2 MB)."""
    counted = Counted(scale=lambda value: "x" * 100_000 + str(value))
    store = DirectoryStore(tmp_path) if with_store else None
    async with backend("temporal", temporal_server, task_queue, counted.tools,
                       continue_after=THRESHOLD, claim_check=store) as runtime:
        node = tool_subflow("each_flow", "scale", [prop("value", "integer")],
                            [prop("scaled")], node_name="each_scale")
        mapping = MapNode(name="each", subflow=node)
        flow = linear_flow("main", mapping, inputs=[prop("iterated_value", INTS)])
        result = await runtime.arun(flow, {"iterated_value": list(range(40))})
    assert result.status == "finished", result.error
    assert counted.calls == {"scale": 40}
    statuses = await chain_of(temporal_server, result.run_id, store)
    assert statuses == (["CONTINUED_AS_NEW", "COMPLETED"] if with_store else ["COMPLETED"])


async def test_the_events_of_a_continued_run_reach_its_listeners(
    temporal_server: str, task_queue: str
) -> None:
    """The client's feed follows the chain: the events of the later runs are numbered on
    from the earlier ones, so none is dropped and the run's end arrives."""
    events: list[Any] = []
    counted = Counted(scale=lambda value: value * 3)
    async with backend("temporal", temporal_server, task_queue, counted.tools,
                       continue_after=THRESHOLD, listeners=[events.append]) as runtime:
        result = await runtime.arun(mapped(MapNode), {"iterated_value": list(range(120))})
    assert result.status == "finished", result.error
    assert len(await chain_of(temporal_server, result.run_id)) >= 4
    kinds = [event.type for event in events]
    assert "events_dropped" not in kinds  # the unread tail of each run went on with it
    scaled_items = {event.step for event in events
                    if event.type == "node_end" and event.path[-1] == "each_scale"}
    assert len(scaled_items) == 120  # every item's end, the later runs' too
    assert kinds[-1] == "flow_end" and events[-1].path == ("main",)
