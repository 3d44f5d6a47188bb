"""The one workflow type: any loom flow or agent, with loom's engine inside it.

The engine runs as it does locally, its effects going through
:class:`~loom.temporal.effects.TemporalEffects`, so Temporal's history is the
run's journal. A run that waits publishes its pending requests and sleeps until
an ``answer`` update brings answers; it then resumes as a local run does
(recorded steps replayed from the workflow's memory, never run again). A long
run continues as new with its journal (:mod:`loom.temporal.continuation`); a
large map's batches are children of this same type (:mod:`loom.temporal.large_maps`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from loom.errors import LoomError
    from loom.runs import RunState
    from loom.runtime.host import Runtime
    from loom.runtime.result import RunResult
    from loom.runtime.tools import BoundTool
    from loom.temporal.continuation import (
        CARRIED,
        CONTINUED,
        Continuation,
        LiveStore,
        carried,
        restore,
    )
    from loom.temporal.effects import Settings, TemporalEffects
    from loom.temporal.eventlog import WorkflowEventLog
    from loom.temporal.large_maps import CHILD, MAP_BATCH
    from loom.temporal.names import (
        ANSWER_UPDATE,
        CONTINUING,
        EVENTS_QUERY,
        SETTLE_UPDATE,
        VIEW_QUERY,
        WORKFLOW,
        too_large,
    )


class _RemoteTools(dict[str, BoundTool]):
    """Every ServerTool name is bound: the call is an activity, and the worker that
    takes it says when it has no such tool."""

    def get(self, name: str, default: Any = None) -> BoundTool:
        bound = super().get(name)
        if bound is None:
            bound = self[name] = BoundTool(name, _remote)
        return bound


async def _remote(**arguments: Any) -> Any:
    raise AssertionError("TemporalEffects.tool runs the activity; this is never called")


# A workflow that fails leaves its updates unanswered: the client reads the failure.
_ABANDON = workflow.HandlerUnfinishedPolicy.ABANDON
EVENTS = "events"  # carried: the events' numbering and the newest events, for late readers
_LIMITS: tuple[str, ...] = ("max_concurrency", "branch_timeout", "max_steps", "max_iterations")


@workflow.defn(name=WORKFLOW)
class LoomRun:
    """``start``: the flow's text, its inputs, the runtime's limits, the task queue."""

    registry: ClassVar[Mapping[str, Any]] = {}  # the worker's --registry entries

    def __init__(self) -> None:
        self.view: dict[str, Any] = {"status": "running"}
        self.generation = 0  # bumped each time the run settles (waits or ends)
        self.answers: list[dict[str, Any]] = []
        self.events = WorkflowEventLog()
        self.continuing = False  # the run goes on in a new workflow run: handlers return

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        store = LiveStore()
        runtime = Runtime(
            registry=self.registry, use_env=False, store=store, tool_threads=1,
            listeners=[self.events],
            **{key: start[key] for key in _LIMITS if start.get(key) is not None},
        )
        runtime.services.tools = _RemoteTools()
        settings = Settings.of_start(start)
        effects = runtime.services.effects = TemporalEffects(settings)
        continuation = effects.continuation = Continuation(settings.continue_after)
        with runtime:
            state = await self._walk(runtime, start, continuation)
        if state is not None:  # the journal goes on in a new run, once the handlers return
            self.continuing = True
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new({**start, CARRIED: continuation.carried})
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view

    async def _walk(self, runtime: Runtime, start: dict[str, Any],
                    continuation: Continuation) -> RunState | None:
        """Run to the end; or return the state to continue as new from."""
        run_id = workflow.info().workflow_id
        try:
            flow = runtime.load(start["flow"])
            runtime.compile(flow)
            state = runtime.new_state(flow, start.get("inputs") or {}, run_id=run_id)
        except LoomError as exc:  # retrying cannot help: fail the workflow, say why
            raise ApplicationError(exc.describe(), type="LoadError", non_retryable=True) from None
        if start.get(CARRIED):
            restore(state, start[CARRIED])
            self.generation = start[CARRIED]["generation"]
            self.answers = start[CARRIED]["queued"]
            self.events.carry_on(start[CARRIED].get(EVENTS, {}))
        runtime.store.save(state)

        def carry() -> dict[str, Any] | None:
            # The events go on numbered from here, the unread ones with them.
            data = {**carried(state, self.generation, self.answers), EVENTS: self.events.tail()}
            fits = start.get("large_values") or too_large(
                {**start, CARRIED: data}, "the next run's start") is None
            return data if fits else None  # else the history grows: no store to put it in

        answers: dict[str, Any] = {}
        while True:
            result = await continuation.drive(runtime.aresume(run_id, answers), carry)
            if result is None:
                return state
            if result.status != "waiting":
                break
            if start.get(CHILD):
                batch = start.get("map_batch") or MAP_BATCH
                raise ApplicationError(
                    f"a wait inside a map of more than {batch:,} items: its items run in "
                    "child workflows on Temporal, which cannot wait for answers",
                    type="WaitInChild", non_retryable=True)
            self._settle(result)
            await workflow.wait_condition(lambda: bool(self.answers))
            answers = self.answers.pop(0)
        self._settle(result)
        return None

    def _settle(self, result: RunResult) -> None:
        self.view = {**result.to_dict(), "run_id": result.run_id, "branch": result.branch}
        self.generation += 1

    @workflow.query(name=VIEW_QUERY)
    def current(self) -> dict[str, Any]:
        return {**self.view, "generation": self.generation}

    @workflow.query(name=EVENTS_QUERY)
    def events_after(self, after: int) -> dict[str, Any]:
        """The run's events numbered after ``after``: a page of them (see eventlog)."""
        return self.events.page(after)

    @workflow.update(name=SETTLE_UPDATE, unfinished_policy=_ABANDON)
    async def settle(self, after: int) -> dict[str, Any]:
        """The run's state once it has settled more than ``after`` times (or
        ``continued``: ask the next run of the chain)."""
        await workflow.wait_condition(lambda: self.generation > after or self.continuing)
        return self._next(after)

    def _next(self, after: int) -> dict[str, Any]:
        if self.generation > after:
            return self.current()
        return {"status": CONTINUED, "generation": after}

    @workflow.update(name=ANSWER_UPDATE, unfinished_policy=_ABANDON)
    async def answer(self, answers: dict[str, Any]) -> dict[str, Any]:
        """Answer pending requests (by id); returns the state the run settles in next."""
        after = self.generation
        self.answers.append(answers)
        self.view = {"status": "running"}  # from now until it settles again
        await workflow.wait_condition(lambda: self.generation > after or self.continuing)
        return self._next(after)

    @answer.validator
    def _check(self, answers: dict[str, Any]) -> None:
        if self.continuing:
            raise ApplicationError(CONTINUING)
        if self.view["status"] != "waiting" or self.answers:
            raise ApplicationError(f"run '{workflow.info().workflow_id}' is not waiting "
                             f"(it is {self.view['status']}); there is nothing to resume")
        pending = sorted(item["id"] for item in self.view["pending"])
        for key in answers:
            if key not in pending:
                raise ApplicationError(f"run '{workflow.info().workflow_id}' has no pending request "
                                 f"'{key}'; its pending requests are {pending}")
