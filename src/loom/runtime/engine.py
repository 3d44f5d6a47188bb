"""The loop that walks a plan: one active node at a time per flow instance."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from loom.runtime.context import RunContext
from loom.runtime.errors import NodeFailure, RunError, StepError
from loom.runtime.journal import Suspended
from loom.runtime.plan import FlowPlan, NodePlan
from loom.runtime.values import coerce
from loom.spec.nodes.base import NEXT
from loom.spec.property import EMPTY

_MISSING: Any = object()


@dataclass(slots=True)
class FlowOutcome:
    """What a finished flow gives back: its outputs and the EndNode's branch name."""

    outputs: dict[str, Any]
    branch: str


async def run_flow(plan: FlowPlan, ctx: RunContext, inputs: dict[str, Any]) -> FlowOutcome:
    """Run ``plan`` from its StartNode to an EndNode."""
    events = ctx.run.events
    if events.enabled:
        events.emit("flow_start", ctx.path, ctx.step, flow=plan.flow, inputs=inputs)
    try:
        outcome = await _walk(plan, ctx, inputs)
    except BaseException as exc:
        if events.enabled:
            events.exception(ctx.path, ctx.step, exc)
            events.emit("flow_end", ctx.path, ctx.step, flow=plan.flow, error=exc)
        raise
    if events.enabled:
        events.emit("flow_end", ctx.path, ctx.step, flow=plan.flow, outputs=outcome.outputs,
                    branch=outcome.branch)
    return outcome


async def _walk(plan: FlowPlan, ctx: RunContext, inputs: dict[str, Any]) -> FlowOutcome:
    slots: list[Any] = [_MISSING] * plan.slot_count
    start = plan.nodes[plan.start]
    values: dict[str, Any] = {}
    for prop in plan.inputs:
        value = inputs.get(prop.title, _MISSING)
        if value is _MISSING:
            value = prop.default
            if value is EMPTY:
                raise RunError(
                    f"flow input '{prop.title}' was not given and has no default",
                    ctx.path,
                    hint=f"pass a value for '{prop.title}'",
                )
        values[prop.title] = coerce(value, prop.json_schema)
    _push(start, values, slots)
    current = _next(start, NEXT, ctx)
    steps, limit = 0, ctx.services.max_steps
    nodes = plan.nodes
    passes = [0] * len(nodes)
    prefix = ctx.step
    run = ctx.run
    while True:
        node = nodes[current]
        args = _read_inputs(node, slots, ctx)
        if node.is_end:
            return _finish(plan, node, args)
        steps += 1
        if steps > limit:
            raise RunError(
                f"the flow ran {limit} steps without reaching an EndNode",
                ctx.path,
                hint="check the loop's exit condition, or raise Runtime(max_steps=...)",
            )
        passes[current] += 1
        key = f"{prefix}>{node.name}#{passes[current]}"
        step = ctx.at_step(node.name, key)
        if run.events.enabled:
            run.events.emit("node_start", step.path, key, node=node.node, inputs=args)
        try:
            outputs, branch = await _execute(node, step, args)
        except BaseException as exc:
            if run.events.enabled:
                run.events.exception(step.path, key, exc)
                run.events.emit("node_end", step.path, key, node=node.node, error=exc)
            raise
        if run.events.enabled:
            run.events.emit("node_end", step.path, key, node=node.node, outputs=outputs,
                            branch=branch)
        if outputs:
            _push(node, outputs, slots)
        current = _next(node, branch, ctx)


async def _execute(
    node: NodePlan, step: RunContext, args: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """Run a node, or replay its recorded result; record what a leaf node did."""
    executor = node.executor
    journaled = getattr(executor, "journaled", False)
    journal = step.run.journal
    if journaled:
        entry = journal.get(step.step)
        if entry is not None:
            step.run.messages.extend(entry["messages"])
            return entry["outputs"], entry["branch"]
    try:
        outputs, branch = await executor.run(step, args)  # type: ignore[union-attr]
    except (RunError, Suspended, asyncio.CancelledError):
        raise
    except StepError as exc:
        raise NodeFailure(str(exc), step.path, hint=exc.hint) from exc
    except Exception as exc:  # a tool, an LLM, a bad value: name the node
        raise NodeFailure(_describe(exc), step.path) from exc
    if journaled:
        await journal.record(
            step.step, {"outputs": outputs, "branch": branch, "messages": step.said}
        )
    return outputs, branch


def _read_inputs(node: NodePlan, slots: list[Any], ctx: RunContext) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for entry in node.inputs:
        value = slots[entry.slot]
        if value is _MISSING:
            value = entry.default
            if value is EMPTY:
                raise NodeFailure(
                    f"input '{entry.title}' has no value: no producer has run and it has "
                    "no default",
                    ctx.path + (node.name,),
                    hint="connect it to a node that runs before this one, or give it a default",
                )
        args[entry.title] = coerce(value, entry.schema)
    return args


def _push(node: NodePlan, outputs: dict[str, Any], slots: list[Any]) -> None:
    for title, targets in node.pushes:
        if title in outputs:
            value = outputs[title]
            for target in targets:
                slots[target] = value


def _next(node: NodePlan, branch: str, ctx: RunContext) -> int:
    successor = node.successors.get(branch)
    if successor is None:
        raise NodeFailure(
            f"took branch '{branch}', which has no control edge",
            ctx.path + (node.name,),
            hint=f"add a ControlFlowEdge from this node's '{branch}' branch",
        )
    return successor


def _finish(plan: FlowPlan, end: NodePlan, values: dict[str, Any]) -> FlowOutcome:
    outputs: dict[str, Any] = {}
    for prop in plan.outputs:
        if prop.title in values:
            outputs[prop.title] = values[prop.title]
        elif prop.has_default:
            outputs[prop.title] = prop.default
    return FlowOutcome(outputs, end.node.branch_name)  # type: ignore[attr-defined]


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
