"""Binding ServerTools to Python callables and calling them without blocking the loop."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from loom._checks import not_json
from loom.errors import StepError
from loom.spec.property import Property
from loom.spec.types import describe_type, value_matches

if TYPE_CHECKING:
    from loom.runtime.threads import ToolThreads

INLINE_ATTRIBUTE = "__loom_inline__"


def inline(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a sync tool as quick and non-blocking: it runs on the event loop itself,
    skipping the hop to a worker thread (tens of microseconds per call)."""
    setattr(fn, INLINE_ATTRIBUTE, True)
    return fn


class BoundTool:
    """A callable ready to be awaited, whatever kind of function it is."""

    __slots__ = ("name", "fn", "is_async", "is_inline")

    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self.name = name
        self.fn = fn
        target: Any = fn if inspect.isroutine(fn) else getattr(fn, "__call__", fn)  # noqa: B004
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(target)
        self.is_inline = bool(getattr(fn, INLINE_ATTRIBUTE, False))

    async def call(self, pool: ToolThreads, arguments: dict[str, Any]) -> Any:
        try:
            if self.is_async:
                return await self.fn(**arguments)
            if self.is_inline:
                result = self.fn(**arguments)
            else:
                result = await pool.submit(functools.partial(self.fn, **arguments))
            # A sync wrapper around an async function (a decorator) returns a coroutine.
            return await result if inspect.isawaitable(result) else result
        except SystemExit as exc:  # a tool failed; it does not end the process
            raise RuntimeError(f"SystemExit({exc.code!r})") from None


def result_schema(outputs: list[Property]) -> dict[str, Any] | None:
    """The JSON Schema of a result :func:`split_result` takes, for a client to send
    (None: no outputs, anything goes). One output: its value, or ``{title: value}``."""
    if not outputs:
        return None
    props = {prop.title: prop.json_schema for prop in outputs}
    whole = {"type": "object", "properties": props,
             "required": [prop.title for prop in outputs if not prop.has_default]}
    if len(outputs) > 1:
        return whole
    only = outputs[0].json_schema
    if only.get("type") == "object":
        return only
    return {"anyOf": [only, {**whole, "additionalProperties": False}]}


class ToolResultError(StepError):
    """A tool returned something that does not fit its declared outputs."""


def split_result(tool_name: str, outputs: list[Property], result: Any) -> dict[str, Any]:
    """Map a tool's return value onto its declared outputs (the spec's convention).

    One output: the value itself (or a dict holding just that key). Several
    outputs: a dict keyed by output titles, or a tuple in declaration order.
    """
    if not outputs:
        return {}
    if len(outputs) == 1:
        prop = outputs[0]
        if (
            isinstance(result, dict)
            and set(result) == {prop.title}
            and prop.json_schema.get("type") != "object"
        ):
            result = result[prop.title]
        values = {prop.title: result}
    elif isinstance(result, tuple) and len(result) == len(outputs):
        values = {prop.title: item for prop, item in zip(outputs, result, strict=True)}
    elif isinstance(result, Mapping):
        values = {}
        for prop in outputs:
            if prop.title in result:
                values[prop.title] = result[prop.title]
            elif prop.has_default:
                values[prop.title] = prop.default
            else:
                raise ToolResultError(
                    f"tool '{tool_name}' returned no value for output '{prop.title}' "
                    f"(it returned keys {sorted(result)})"
                )
    else:
        raise ToolResultError(
            f"tool '{tool_name}' has {len(outputs)} outputs, so it must return a dict keyed "
            f"by {[p.title for p in outputs]}, got {type(result).__name__}"
        )
    for prop in outputs:
        if bad := not_json(values[prop.title]):
            raise ToolResultError(f"tool '{tool_name}' returned a {bad} in output "
                                  f"'{prop.title}', which JSON cannot hold")
        if not value_matches(values[prop.title], prop.json_schema):
            raise ToolResultError(
                f"tool '{tool_name}' returned {type(values[prop.title]).__name__} for output "
                f"'{prop.title}', which is declared {describe_type(prop.json_schema)}"
            )
    return values
