"""The loop that walks a plan: one active node at a time per flow instance."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from loom.errors import NodeFailure, RunError, StepError, describe
from loom.runtime.context import RunContext
from loom.runtime.journal import Suspended
from loom.runtime.keys import node_key, step_entry
from loom.runtime.plan import FlowPlan, NodePlan
from loom.runtime.values import refusal
from loom.spec.nodes.base import NEXT
from loom.spec.property import EMPTY

_MISSING: Any = object()


@dataclass(slots=True)
class FlowOutcome:
    """What a finished flow gives back: its outputs and the EndNode's branch name."""

    outputs: dict[str, Any]
    branch: str


def run_flow(
    plan: FlowPlan, ctx: RunContext, inputs: dict[str, Any]
) -> Coroutine[Any, Any, FlowOutcome]:
    """Run ``plan`` from its StartNode to an EndNode (await the result)."""
    if ctx.run.events.enabled:
        return _watched(plan, ctx, inputs)
    return _walk(plan, ctx, inputs)  # one coroutine less per flow when nobody watches


async def _watched(plan: FlowPlan, ctx: RunContext, inputs: dict[str, Any]) -> FlowOutcome:
    events = ctx.run.events
    events.emit("flow_start", ctx.path, ctx.step, flow=plan.flow, inputs=inputs)
    try:
        outcome = await _walk(plan, ctx, inputs)
    except BaseException as exc:
        events.exception(ctx.path, ctx.step, exc)
        events.emit("flow_end", ctx.path, ctx.step, flow=plan.flow, error=exc)
        raise
    events.emit("flow_end", ctx.path, ctx.step, flow=plan.flow, outputs=outcome.outputs,
                branch=outcome.branch)
    return outcome


async def _walk(plan: FlowPlan, ctx: RunContext, inputs: dict[str, Any]) -> FlowOutcome:
    slots: list[Any] = [_MISSING] * plan.slot_count
    start = plan.nodes[plan.start]
    values: dict[str, Any] = {}
    for spec in plan.inputs:
        value = inputs.get(spec.title, _MISSING)
        if value is _MISSING:
            value = spec.default
            if value is EMPTY:
                raise RunError(
                    f"flow input '{spec.title}' was not given and has no default",
                    ctx.path,
                    hint=f"pass a value for '{spec.title}'",
                )
        elif len(ctx.path) == 1 and (why := refusal(spec.title, spec.schema, value)):
            raise RunError(f"flow {why}", ctx.path)
        values[spec.title] = value if spec.convert is None else spec.convert(value)
    _push(start, values, slots)
    current = _next(start, NEXT, ctx)
    steps, limit = 0, ctx.services.max_steps
    nodes = plan.nodes
    passes = [0] * len(nodes)
    prefix = ctx.step
    events = ctx.run.events
    watched = events.enabled  # fixed for a run: its listeners are given at the start
    # Unwatched, uncheckpointed runs take consecutive sync tools in one thread hop.
    chained = not watched and ctx.run.journal.on_record is None and ctx.services.effects.threads
    loop = asyncio.get_running_loop()
    while True:
        node = nodes[current]
        if chained and node.sync_run is not None:
            chain = _Chain(plan, ctx, slots, passes, steps)
            try:
                current = await ctx.services.pool.submit(chain.walk, current, loop)
            except asyncio.CancelledError:
                chain.stopped = True
                raise
            steps = chain.steps
            continue
        args = _read_inputs(node, slots, ctx)
        if node.is_end:
            return _finish(plan, node, args)
        steps += 1
        if steps > limit:
            raise _too_many_steps(ctx, limit)
        passes[current] += 1
        key = node_key(prefix, node.name, passes[current])
        step = ctx.at_step(node.name, key)
        if watched:
            events.emit("node_start", step.path, key, node=node.node, inputs=args)
        try:
            outputs, branch = await _execute(node, step, args)
        except BaseException as exc:
            if watched:
                events.exception(step.path, key, exc)
                events.emit("node_end", step.path, key, node=node.node, error=exc)
            raise
        if watched:
            events.emit("node_end", step.path, key, node=node.node, outputs=outputs,
                        branch=branch)
        if outputs:
            _push(node, outputs, slots)
        successor = node.successors.get(branch)  # _next, inlined: it raises on no edge
        current = successor if successor is not None else _next(node, branch, ctx)


class _Chain:
    """Runs a stretch of sync-tool nodes in one worker thread.

    A hop to a thread and back (50-150 µs) costs far more than the engine's work
    per node, so a stretch of plain sync tools is walked in the thread: one hop,
    not one per node. The flow's coroutine waits meanwhile, so nothing else
    touches its slots. Only when no listener watches and no per-node checkpoint
    is written; the thread stops at the next node when the run is cancelled.
    """

    def __init__(
        self, plan: FlowPlan, ctx: RunContext, slots: list[Any], passes: list[int], steps: int
    ) -> None:
        self.plan = plan
        self.ctx = ctx
        self.slots = slots
        self.passes = passes
        self.steps = steps
        self.stopped = False  # set by the loop when the run is cancelled

    def walk(self, current: int, loop: asyncio.AbstractEventLoop) -> int:
        """Walk from ``current`` to the first node that is not a sync tool (in the thread)."""
        ctx, nodes, slots, passes = self.ctx, self.plan.nodes, self.slots, self.passes
        recorded, record = ctx.run.journal.step, ctx.run.journal.put_unsaved
        prefix, limit, steps = ctx.step, ctx.services.max_steps, self.steps
        try:
            while not self.stopped:
                node = nodes[current]
                call = node.sync_run
                if call is None:
                    return current
                args = _read_inputs(node, slots, ctx)
                steps += 1
                if steps > limit:
                    raise _too_many_steps(ctx, limit)
                passes[current] += 1
                key = node_key(prefix, node.name, passes[current])
                entry = recorded(key)
                if entry is not None:
                    outputs, branch = entry["outputs"], entry["branch"]
                else:
                    try:
                        outputs, branch = call(args, loop)
                    except StepError as exc:
                        raise NodeFailure(str(exc), ctx.path + (node.name,),
                                          hint=exc.hint) from exc
                    record(key, step_entry(outputs, branch, []))
                if outputs:
                    _push(node, outputs, slots)
                successor = node.successors.get(branch)
                current = successor if successor is not None else _next(node, branch, ctx)
            return current
        finally:
            self.steps = steps


def _too_many_steps(ctx: RunContext, limit: int) -> RunError:
    return RunError(
        f"the flow ran {limit} steps without reaching an EndNode",
        ctx.path,
        hint="check the loop's exit condition, or raise Runtime(max_steps=...)",
    )


async def _execute(
    node: NodePlan, step: RunContext, args: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """Run a node, or replay its recorded result; record what a leaf node did."""
    journaled = node.journaled
    journal = step.run.journal
    if journaled:
        entry = journal.step(step.step)
        if entry is not None:
            step.run.messages.extend(entry["messages"])
            return entry["outputs"], entry["branch"]
    try:
        outputs, branch = await node.executor.run(step, args)  # type: ignore[union-attr]
    except (RunError, Suspended, asyncio.CancelledError):
        raise
    except StepError as exc:
        raise NodeFailure(str(exc), step.path, hint=exc.hint) from exc
    except Exception as exc:  # a tool, an LLM, a bad value: name the node
        raise NodeFailure(describe(exc), step.path) from exc
    if journaled:
        await journal.put(step.step, step_entry(outputs, branch, step.said))
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
        args[entry.title] = value if entry.convert is None else entry.convert(value)
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
    for spec in plan.outputs:
        value = values.get(spec.title, _MISSING)
        if value is _MISSING:
            value = spec.default
            if value is EMPTY:
                continue
        outputs[spec.title] = value
    return FlowOutcome(outputs, end.node.branch_name)  # type: ignore[attr-defined]
