"""ParallelFlowNode, MapNode and ParallelMapNode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loom.errors import StepError
from loom.runtime.context import RunContext
from loom.runtime.engine import FlowOutcome, run_flow
from loom.runtime.executors.branches import run_branches
from loom.runtime.plan import Compiler
from loom.runtime.services import LIMIT_KEY, TIMEOUT_KEY, node_option
from loom.spec.nodes import NEXT, MapNode, ParallelFlowNode, ParallelMapNode
from loom.spec.nodes.subflows import COLLECTED, ITERATED


def _limits(node: Any, compiler: Compiler) -> tuple[int | None, float | None]:
    limit = node_option(node.metadata, LIMIT_KEY)
    timeout = node_option(node.metadata, TIMEOUT_KEY)
    if timeout is None:
        timeout = compiler.services.branch_timeout
    return (int(limit) if limit else None), (float(timeout) if timeout else None)


class ParallelFlowExecutor:
    """Starts every subflow at once; each sees only the inputs it declares.
    Outputs merge in subflow order, never completion order."""

    def __init__(self, node: ParallelFlowNode, compiler: Compiler) -> None:
        self.name = node.name
        self.plans = [compiler.plan(flow) for flow in node.subflows]
        self.limit, self.timeout = _limits(node, compiler)

    async def run(self, ctx: RunContext, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
        jobs = [
            (plan.name, plan, {v.title: inputs[v.title] for v in plan.inputs if v.title in inputs})
            for plan in self.plans
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


class MapExecutor:
    """Runs the subflow per element of the iterated inputs (broadcasting the rest)
    and reduces each output. ParallelMapNode runs the iterations concurrently;
    results keep input order either way."""

    def __init__(self, node: MapNode, compiler: Compiler) -> None:
        self.name = node.name
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
        if self.parallel:
            jobs = [(f"{label}[{i}]", self.plan, args) for i, args in enumerate(iterations)]
            outcomes = await run_branches(ctx, jobs, self.limit, self.timeout)
        else:
            outcomes = []
            for i, args in enumerate(iterations):
                child = ctx.child(f"{label}[{i}]")
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
