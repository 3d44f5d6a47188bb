"""Large maps: a MapNode or ParallelMapNode over many items runs in child workflows.

One workflow holding 10,000 items' activities has a huge history and slow
workflow tasks; here the items are cut into batches of ``map_batch``, each run
by a child workflow (loom's own workflow type, running a flow made of the map
node alone over its batch), whose outputs come back per item and are reduced
as the engine would. The children share the node's concurrency limit (and the
run's), each child's result is one journal entry (a continued or resumed run
does not start it again), and a child cannot wait for a person.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

from loom.errors import StepError
from loom.runtime.context import RunContext
from loom.runtime.engine import FlowOutcome
from loom.runtime.executors.subflows import MapExecutor, settle_all
from loom.serialization import dumps
from loom.spec import ControlFlowEdge, EndNode, Flow, MapNode, ParallelMapNode, StartNode
from loom.spec.nodes import NEXT
from loom.temporal.names import WORKFLOW

if TYPE_CHECKING:
    from loom.temporal.effects import TemporalEffects

MAP_BATCH = 500  # items per child workflow; a map of more items goes to children
PER_CHILD = 100  # concurrent items per child of a ParallelMapNode
CHILD = "child"  # a start's key: this run is a batch of a parent's map


def batch_flow(node: MapExecutor) -> str:
    """The document of a flow that maps the node's subflow over a batch, every output
    collected in item order."""
    subflow = node.plan.flow
    kind = ParallelMapNode if node.parallel else MapNode
    limits = {"max_concurrency": node.limit, "branch_timeout": node.timeout}
    mapped = kind(name="batch", subflow=subflow,
                  reducers={p.title: "append" for p in subflow.outputs or []},
                  metadata={"loom": {k: v for k, v in limits.items() if v is not None}})
    start = StartNode(name="start", inputs=list(mapped.inputs or []))
    end = EndNode(name="end", inputs=list(mapped.outputs or []))
    links = [(start, mapped), (mapped, end)]
    return dumps(Flow(
        name=f"{subflow.name} batch", start_node=start, nodes=[start, mapped, end],
        control_flow_connections=[ControlFlowEdge(name=f"c{i}", from_node=a, to_node=b)
                                  for i, (a, b) in enumerate(links)],
        data_flow_connections=None))


async def run_in_children(effects: TemporalEffects, ctx: RunContext, node: MapExecutor,
                          iterations: list[dict[str, Any]]) -> list[FlowOutcome] | None:
    """The outcomes of a map over more than ``map_batch`` items, from child workflows."""
    size = effects.settings.map_batch
    if len(iterations) <= size:
        return None
    flow = batch_flow(node)
    titles = [p.title for p in node.plan.flow.inputs or []]
    outputs = [p.title for p in node.plan.flow.outputs or []]
    batches = [iterations[i:i + size] for i in range(0, len(iterations), size)]
    total = min(node.limit or len(iterations), ctx.services.max_concurrency)
    per_child = min(total, PER_CHILD) if node.parallel else 1
    children = asyncio.Semaphore(max(1, total // per_child) if node.parallel else 1)

    async def run(k: int, batch: list[dict[str, Any]]) -> dict[str, Any]:
        async with children:
            result: dict[str, Any] = await ctx.effect(f"batch{k}", lambda: _child(
                effects, ctx, k, flow, per_child, {f"iterated_{t}": [item[t] for item in batch]
                                                   for t in titles}))
        return result

    tasks = [asyncio.ensure_future(run(k, batch)) for k, batch in enumerate(batches)]
    await settle_all(ctx, tasks)
    outcomes: list[FlowOutcome] = []
    for task, batch in zip(tasks, batches, strict=True):
        result = task.result()
        ctx.run.messages.extend(result["messages"])
        columns = {t: result["outputs"][f"collected_{t}"] for t in outputs}
        outcomes.extend(FlowOutcome({t: columns[t][i] for t in outputs}, NEXT)
                        for i in range(len(batch)))
    return outcomes


async def _child(effects: TemporalEffects, ctx: RunContext, k: int, flow: str,
                 per_child: int, inputs: dict[str, Any]) -> dict[str, Any]:
    settings = effects.settings
    start = {"flow": flow, "inputs": inputs, "task_queue": settings.task_queue,
             "tool_timeout": settings.tool_timeout, "max_concurrency": per_child,
             "map_batch": settings.map_batch, "large_values": settings.large_values,
             "continue_after": settings.continue_after, CHILD: True}
    first = k * settings.map_batch
    where = f"items {first}-{first + len(next(iter(inputs.values()), [])) - 1}"
    try:
        view: dict[str, Any] = await effects.gated(lambda: workflow.execute_child_workflow(
            WORKFLOW, start, id=f"{workflow.info().workflow_id}/{ctx.step}/{k}",
            task_queue=settings.task_queue))
    except ChildWorkflowError as exc:
        cause = exc.cause
        raise StepError(f"the child workflow of {where} failed: "
                        f"{getattr(cause, 'message', None) or cause}") from None
    if view["status"] != "finished":
        error = view.get("error") or {}
        raise StepError(f"{where}: {error.get('node', '?')}: {error.get('message', '?')}")
    return {"outputs": view["outputs"], "messages": view.get("messages") or []}

