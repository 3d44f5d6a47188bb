"""Nodes that run subflows: FlowNode and CatchExceptionNode inline, ParallelFlowNode,
MapNode and ParallelMapNode as branches (bounded, cancellable, results in branch order)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from loom.errors import BranchTimeout, RunError, StepError
from loom.runtime.context import RunContext
from loom.runtime.engine import FlowOutcome, run_flow
from loom.runtime.journal import PendingRequest, Suspended
from loom.runtime.keys import item_name, step_names
from loom.runtime.plan import Compiler, Executor, FlowPlan
from loom.runtime.services import LIMIT_KEY, TIMEOUT_KEY, node_option
from loom.spec.nodes import (
    NEXT,
    CatchExceptionNode,
    FlowNode,
    MapNode,
    ParallelFlowNode,
    ParallelMapNode,
)
from loom.spec.nodes.subflows import (
    CAUGHT_EXCEPTION_BRANCH,
    CAUGHT_EXCEPTION_INFO,
    COLLECTED,
    ITERATED,
)

MAX_INFO_LENGTH = 300


class FlowNodeExecutor(Executor):
    """Runs the subflow and takes the branch named by the EndNode it reached."""

    journaled = False  # the subflow's steps record themselves
    threaded = False

    def __init__(self, node: FlowNode, compiler: Compiler) -> None:
        self.plan = compiler.plan(node.subflow)

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        outcome = await run_flow(self.plan, ctx.child(self.plan.name), inputs)
        return outcome.outputs, outcome.branch


class CatchExceptionExecutor(Executor):
    """Runs the subflow; a failure inside becomes ``caught_exception_branch``.

    Cancellation is never caught. ``caught_exception_info`` holds the error's
    first line only (no stack trace, no chained causes), cut to 300 characters.
    """

    journaled = False
    threaded = False

    def __init__(self, node: CatchExceptionNode, compiler: Compiler) -> None:
        self.plan = compiler.plan(node.subflow)
        self.defaults = {
            prop.title: prop.default for prop in node.outputs or [] if prop.has_default
        }

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        try:
            outcome = await run_flow(self.plan, ctx.child(self.plan.name), inputs)
        except (asyncio.CancelledError, Suspended):
            raise
        except Exception as exc:
            outputs = dict(self.defaults)
            outputs[CAUGHT_EXCEPTION_INFO] = _summary(exc)
            return outputs, CAUGHT_EXCEPTION_BRANCH
        return {**outcome.outputs, CAUGHT_EXCEPTION_INFO: None}, outcome.branch


def _summary(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, RunError) else str(exc)
    first_line = text.splitlines()[0] if text else type(exc).__name__
    where = f" (in {exc.node})" if isinstance(exc, RunError) and exc.node_path else ""
    return (first_line + where)[:MAX_INFO_LENGTH]


def _limits(node: Any, compiler: Compiler) -> tuple[int | None, float | None]:
    limit = node_option(node.metadata, LIMIT_KEY)
    timeout = node_option(node.metadata, TIMEOUT_KEY)
    if timeout is None:
        timeout = compiler.services.branch_timeout
    return (int(limit) if limit else None), (float(timeout) if timeout else None)


class ParallelFlowExecutor(Executor):
    """Starts every subflow at once; each sees only the inputs it declares.
    Outputs merge in subflow order, never completion order."""

    journaled = False
    threaded = False

    def __init__(self, node: ParallelFlowNode, compiler: Compiler) -> None:
        self.plans = [compiler.plan(flow) for flow in node.subflows]
        self.names = step_names([plan.name for plan in self.plans])
        self.limit, self.timeout = _limits(node, compiler)

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        jobs = [
            (name, plan, {v.title: inputs[v.title] for v in plan.inputs if v.title in inputs})
            for name, plan in zip(self.names, self.plans, strict=True)
        ]
        outcomes = await run_branches(ctx, jobs, self.limit, self.timeout)
        merged: dict[str, Any] = {}
        for outcome in outcomes:
            merged.update(outcome.outputs)
        return merged, NEXT


REDUCERS: dict[str, Callable[[list[Any]], Any]] = {
    "sum": sum,
    "max": max,
    "min": min,
    "average": lambda values: sum(values) / len(values),
}


class MapExecutor(Executor):
    """Runs the subflow per element of the iterated inputs (broadcasting the rest)
    and reduces each output. ParallelMapNode runs the iterations concurrently;
    results keep input order either way."""

    journaled = False
    threaded = False

    def __init__(self, node: MapNode, compiler: Compiler) -> None:
        self.plan = compiler.plan(node.subflow)
        self.parallel = isinstance(node, ParallelMapNode)
        self.reducers = dict(node.reducers or {})
        self.limit, self.timeout = _limits(node, compiler)
        inner = {p.title: p.json_schema for p in node.subflow.inputs or []}
        self.inputs: list[tuple[str, str, bool | None]] = []
        for prop in node.inputs or []:
            title = prop.title[len(ITERATED):] if prop.title.startswith(ITERATED) else prop.title
            declared_array = prop.json_schema.get("type") == "array"
            inner_array = inner.get(title, {}).get("type") == "array"
            static = True if declared_array and not inner_array else None
            self.inputs.append((prop.title, title, static))
        self.inner_arrays = {t for t, schema in inner.items() if schema.get("type") == "array"}

    def _iterations(self, inputs: dict[str, Any]) -> list[dict[str, Any]]:
        iterated: dict[str, list[Any]] = {}
        broadcast: dict[str, Any] = {}
        for outer, inner, static in self.inputs:
            value = inputs.get(outer)
            if static or (static is None and self._is_list_of_items(inner, value)):
                iterated[inner] = list(value)  # type: ignore[arg-type]
            else:
                broadcast[inner] = value
        if not iterated:
            raise StepError(
                "a MapNode needs at least one input connected to a list to iterate over",
                hint="connect a list to one of its iterated_* inputs",
            )
        lengths = {name: len(values) for name, values in iterated.items()}
        if len(set(lengths.values())) > 1:
            raise StepError(
                f"iterated inputs have different lengths {lengths}",
                hint="give every iterated list the same number of items",
            )
        count = next(iter(lengths.values()))
        return [
            {**broadcast, **{name: values[i] for name, values in iterated.items()}}
            for i in range(count)
        ]

    def _is_list_of_items(self, inner: str, value: Any) -> bool:
        if not isinstance(value, (list, tuple)):
            return False
        if inner in self.inner_arrays:
            return all(isinstance(item, (list, tuple)) for item in value)
        return True

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        iterations = self._iterations(inputs)
        label = self.plan.name
        elsewhere = await ctx.services.effects.map_items(ctx, self, iterations)
        if elsewhere is not None:  # a backend ran them (Temporal: in child workflows)
            outcomes = elsewhere
        elif self.parallel:
            jobs = [(item_name(label, i), self.plan, args) for i, args in enumerate(iterations)]
            outcomes = await run_branches(ctx, jobs, self.limit, self.timeout)
        else:
            outcomes = []
            for i, args in enumerate(iterations):
                child = ctx.child(item_name(label, i))
                outcomes.append(await run_flow(self.plan, child, args))
        return self._reduce(outcomes), NEXT

    def _reduce(self, outcomes: list[FlowOutcome]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for title, method in self.reducers.items():
            values = []
            for i, outcome in enumerate(outcomes):
                if title not in outcome.outputs:
                    raise StepError(f"iteration {i} produced no value for output '{title}'")
                values.append(outcome.outputs[title])
            if method == "append":
                result[COLLECTED + title] = values
            elif not values and method != "sum":
                raise StepError(
                    f"cannot take the {method} of '{title}' over zero items",
                    hint="use 'sum' or 'append', or make sure the list is not empty",
                )
            else:
                result[COLLECTED + title] = REDUCERS[method](values)
        return result


# A branch: its name in paths and step keys, the flow it runs, that flow's inputs.
Branch = tuple[str, FlowPlan, dict[str, Any]]
_NOT_RUN: Any = object()


async def run_branches(
    ctx: RunContext,
    jobs: Sequence[Branch],
    limit: int | None = None,
    timeout: float | None = None,
) -> list[FlowOutcome]:
    """Run every branch's flow concurrently; the outcomes come back in branch order.

    At most ``limit`` workers (never over ``max_concurrency``) take the jobs in
    order, so 10,000 map items cost 1,000 tasks; each branch also holds a slot of
    the runtime-wide limit. One failure cancels and awaits the others, then is
    raised. A branch that must wait pauses alone: its siblings finish, and every
    waiting branch's requests are raised together, in branch order.
    """
    if not jobs:
        return []
    global_limit = ctx.services.global_limit()
    results: list[Any] = [_NOT_RUN] * len(jobs)
    waits: list[list[PendingRequest] | None] = [None] * len(jobs)
    queue = iter(enumerate(jobs))

    async def worker() -> None:
        for index, (name, plan, inputs) in queue:
            await global_limit.acquire()
            child = ctx.child(name, permit=global_limit)
            try:
                if timeout is None:
                    results[index] = await run_flow(plan, child, inputs)
                else:
                    results[index] = await asyncio.wait_for(run_flow(plan, child, inputs), timeout)
            except Suspended as waiting:
                waits[index] = waiting.requests
            except asyncio.TimeoutError:
                raise BranchTimeout(
                    f"branch did not finish within {timeout:g} s",
                    child.path,
                    hint="raise the branch timeout or make the branch faster",
                ) from None
            finally:
                global_limit.release()

    size = min(len(jobs), limit or len(jobs), ctx.services.max_concurrency)
    async with ctx.waiting_for_children():
        await settle_all(ctx, [asyncio.ensure_future(worker()) for _ in range(size)])
    pending = [request for requests in waits if requests for request in requests]
    if pending:
        raise Suspended(pending)
    return results


async def settle_all(ctx: RunContext, tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Wait for every task; at the first failure (or if cancelled) cancel and await
    the others, then raise it."""
    try:
        await ctx.services.effects.first_failure(tasks)
    except asyncio.CancelledError:
        await _cancel_all(tasks)
        raise
    failed = next((t for t in tasks if t.done() and t.exception() is not None), None)
    if failed is not None:
        await _cancel_all(tasks)
        raise failed.exception()  # type: ignore[misc]


async def _cancel_all(tasks: Sequence[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
