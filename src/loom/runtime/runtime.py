"""The Runtime: the entry point that runs flows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from loom.errors import LoadError
from loom.llm import LlmOverrides, aclose_shared_http_client, overrides_from_env
from loom.runtime.context import RunContext
from loom.runtime.engine import run_flow
from loom.runtime.errors import RunError
from loom.runtime.executors import FACTORIES
from loom.runtime.plan import Compiler, FlowPlan
from loom.runtime.result import ErrorInfo, RunResult
from loom.runtime.services import Services
from loom.serialization import load, loads
from loom.spec.component import Component
from loom.spec.flow import Flow

FlowSource = Component | str | Path | Any


class Runtime:
    """Runs flows: ``Runtime(tools={...}).run(flow, {"username": "alice"})``.

    ``tools`` binds ServerTools by name to Python functions (sync functions run
    in a bounded thread pool, ``async def`` ones are awaited). ``llm`` overrides
    every LLM config's ``url``, ``model`` or ``api_key`` for the run (the
    environment's ``LOOM_LLM_URL``/``LOOM_LLM_MODEL``/``LOOM_LLM_API_KEY`` apply
    when ``use_env`` is true and ``llm`` does not set them). ``max_concurrency``
    bounds the parallel branches in flight across all runs; a node's own bound
    goes in its metadata (``{"loom": {"max_concurrency": 4}}``).
    """

    def __init__(
        self,
        tools: Mapping[str, Callable[..., Any]] | None = None,
        *,
        llm: LlmOverrides | Mapping[str, str] | None = None,
        max_concurrency: int = 1024,
        tool_threads: int = 256,
        branch_timeout: float | None = None,
        max_steps: int = 100_000,
        registry: Mapping[str, Any] | None = None,
        use_env: bool = True,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        overrides: dict[str, Any] = dict(overrides_from_env()) if use_env else {}
        overrides.update({k: v for k, v in dict(llm or {}).items() if v})
        self.registry = dict(registry or {})
        self.services = Services(
            tools=dict(tools or {}),
            llm=LlmOverrides(**overrides),  # type: ignore[typeddict-item]
            max_concurrency=max_concurrency,
            tool_threads=tool_threads,
            branch_timeout=branch_timeout,
            max_steps=max_steps,
        )
        self._compiler = Compiler(FACTORIES, self.services)

    def load(self, source: FlowSource) -> Flow:
        """A Flow from a loom component, a file path, JSON/YAML text, or a
        pyagentspec component."""
        component = _to_component(source, self.registry)
        if not isinstance(component, Flow):
            raise LoadError(
                f"{component.component_type} '{component.name}' cannot be run yet: "
                "loom's runtime runs Flows",
                hint="wrap it in a Flow (an AgentNode inside a flow) once agents land",
            )
        return component

    def compile(self, source: FlowSource) -> FlowPlan:
        """Check the flow can run here (every tool bound) and return its plan."""
        return self._compiler.plan(self.load(source))

    async def arun(self, flow: FlowSource, inputs: Mapping[str, Any] | None = None) -> RunResult:
        """Run a flow to its end. Configuration problems raise; a failing run
        returns ``status="failed"`` with the node path and the message."""
        plan = self.compile(flow)
        messages: list[dict[str, Any]] = []
        ctx = RunContext(self.services, (plan.name,), messages)
        try:
            outcome = await run_flow(plan, ctx, dict(inputs or {}))
        except RunError as exc:
            message = exc.message + (f". {exc.hint}" if exc.hint else "")
            info = ErrorInfo(node=exc.node or plan.name, message=message)
            return RunResult("failed", {}, messages, info, exception=exc)
        return RunResult("finished", outcome.outputs, messages, branch=outcome.branch)

    def run(self, flow: FlowSource, inputs: Mapping[str, Any] | None = None) -> RunResult:
        """The blocking form of :meth:`arun`, for scripts and the CLI."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("Runtime.run() was called inside an event loop: use arun()")
        return asyncio.run(self._run_and_close(flow, inputs))

    async def _run_and_close(self, flow: FlowSource, inputs: Mapping[str, Any] | None) -> RunResult:
        try:
            return await self.arun(flow, inputs)
        finally:
            await aclose_shared_http_client()

    def close(self) -> None:
        self.services.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _to_component(source: FlowSource, registry: Mapping[str, Any]) -> Component:
    if isinstance(source, Component):
        return source
    if isinstance(source, Path):
        return load(source, registry=registry)
    if isinstance(source, str):
        text = source.lstrip()
        if text.startswith("{") or "\n" in text or text.startswith("component_type"):
            return loads(source, registry=registry)
        return load(source, registry=registry)
    if type(source).__module__.startswith("pyagentspec"):
        from pyagentspec.serialization import AgentSpecSerializer  # the caller's own package

        return loads(AgentSpecSerializer().to_json(source), format="json", registry=registry)
    raise TypeError(
        f"cannot run a {type(source).__name__}: pass a loom component, a path, "
        "JSON/YAML text or a pyagentspec component"
    )
