"""The Runtime: the entry point that runs flows."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from loom._cache import IdentityCache, LruCache, Same
from loom.errors import CheckpointError, RunError, RunNotFound, RunTakenOver, describe
from loom.llm import LlmOverrides, overrides_from_env
from loom.runs import RunState, RunStatus, flow_digest
from loom.runtime.agents import DEFAULT_MAX_ITERATIONS, as_flow
from loom.runtime.blocking import run_blocking as _blocking
from loom.runtime.context import Run, RunContext
from loom.runtime.engine import run_flow
from loom.runtime.events import Emitter, Listener, RunStream
from loom.runtime.executors import FACTORIES
from loom.runtime.host.secrets import resume_registry
from loom.runtime.journal import Journal, Suspended
from loom.runtime.keys import root_key
from loom.runtime.lease import Lease
from loom.runtime.plan import Compiler, FlowPlan
from loom.runtime.result import ErrorInfo, RunResult
from loom.runtime.services import Services
from loom.serialization import load, loads, to_dict
from loom.serialization.policy import PolicyArgs, PolicyInput, load_policy
from loom.spec.component import Component
from loom.spec.flows.flow import Flow
from loom.spec.walk import sensitive_values
from loom.stores.base import CheckpointStore
from loom.stores.memory import MemoryStore

FlowSource = Component | str | Path | Any
FLOWS_KEPT = 128  # by digest: resuming a recent run reuses its flow
TEXTS_KEPT = 64  # by text: running a recent JSON/YAML text again reuses its flow
SECRETS_KEPT = 4096  # by digest: what resume needs of a flow no longer kept
HISTORY_KEY = "loom_history"  # metadata: the messages said before the run (new_state)


class Backend(Protocol):
    """Where runs live when not in this process (``loom.temporal.TemporalBackend``)."""

    async def arun(
        self, component: Component, inputs: Mapping[str, Any], *, run_id: str | None,
        limits: Mapping[str, Any], listeners: Iterable[Listener] = (),
    ) -> RunResult: ...

    async def aresume(self, run_id: str, answers: Mapping[str, Any],
                      listeners: Iterable[Listener] = ()) -> RunResult: ...


class Runtime:
    """Runs flows: ``Runtime(tools={...}).run(flow, {"username": "alice"})``.

    ``tools`` binds ServerTools by name to functions (sync ones run on worker
    threads, ``async def`` ones are awaited). ``llm`` overrides every LLM config's
    ``url``, ``model``, ``api_key`` or ``params`` (``LOOM_LLM_*`` apply too when ``use_env``).
    ``max_concurrency`` bounds the parallel branches in flight across all runs;
    ``inline_tools`` runs those sync tools on the loop (quick ones only, as with
    :func:`loom.inline`); ``max_iterations`` bounds an agent's LLM calls per user
    message. Node and agent metadata (``{"loom": {...}}``) override these. A
    ``backend`` runs the flows elsewhere (its workers bind the tools). Running
    JSON/YAML text seen recently reuses its Flow: components are not to be changed
    once run. ``allowed_components`` / ``blocked_components`` apply to every
    document it loads, as in :func:`loom.load` (StdioTransport is blocked by default).
    """

    def __init__(
        self,
        tools: Mapping[str, Callable[..., Any]] | None = None,
        *,
        llm: LlmOverrides | Mapping[str, Any] | None = None,
        max_concurrency: int = 1024,
        tool_threads: int = 256,
        branch_timeout: float | None = None,
        max_steps: int = 100_000,
        registry: Mapping[str, Any] | None = None,
        use_env: bool = True,
        store: CheckpointStore | None = None,
        checkpoint: Literal["waits", "nodes"] = "waits",
        listeners: Iterable[Listener] = (),
        keep_finished: bool | None = None,
        inline_tools: bool | Iterable[str] = False,
        max_iterations: int = DEFAULT_MAX_ITERATIONS,
        allowed_components: PolicyInput = None,
        blocked_components: PolicyInput = None,
        backend: Backend | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        load_policy(allowed_components, blocked_components)  # a bad entry fails here
        self.load_policy: PolicyArgs = {
            "allowed_components": allowed_components, "blocked_components": blocked_components,
        }
        overrides: dict[str, Any] = dict(overrides_from_env()) if use_env else {}
        overrides.update({k: v for k, v in dict(llm or {}).items() if v})
        self.registry = dict(registry or {})
        self.backend = backend
        self.services = Services(
            tools=dict(tools or {}),
            llm=LlmOverrides(**overrides),  # type: ignore[typeddict-item]
            max_concurrency=max_concurrency,
            tool_threads=tool_threads,
            branch_timeout=branch_timeout,
            max_steps=max_steps,
            max_iterations=max_iterations,
        )
        self.services.inline(inline_tools)
        self._compiler = Compiler(FACTORIES, self.services)
        if checkpoint not in ("waits", "nodes"):
            raise ValueError("checkpoint must be 'waits' or 'nodes'")
        self.store: CheckpointStore = store if store is not None else MemoryStore()
        self.checkpoint = checkpoint
        self.listeners = list(listeners)
        # A run that was checkpointed (it waited, or checkpoint="nodes") keeps its
        # final state in a persistent store (to list and show it later); the
        # in-memory default forgets it, so a long-lived runtime does not grow. A
        # run that finished without a checkpoint leaves nothing in the store.
        self.keep_finished = (
            keep_finished if keep_finished is not None else not isinstance(self.store, MemoryStore)
        )
        self._flows: LruCache[str, Flow] = LruCache(FLOWS_KEPT)  # by digest, for resume
        self._documents: IdentityCache[Flow, tuple[dict[str, Any], str, dict[str, Any]]] = (
            IdentityCache())
        self._secrets: LruCache[str, dict[str, Any]] = LruCache(SECRETS_KEPT)
        self._texts: LruCache[tuple[Any, ...], Flow] = LruCache(TEXTS_KEPT)

    @property
    def llm_overrides(self) -> LlmOverrides:
        """The url, model or api_key that replace every LLM config's here (a copy)."""
        return self.services.llm_overrides.copy()

    def load(self, source: FlowSource) -> Flow:
        """A Flow from a loom component, a file path, JSON/YAML text, or a
        pyagentspec component; an agent (Agent, Swarm, ManagerWorkers...) comes
        back as its implicit flow (StartNode -> AgentNode -> EndNode)."""
        return as_flow(_to_component(source, self.registry, self.load_policy))

    def _loaded(self, source: FlowSource) -> Flow:
        # Loading costs more than running a small flow: the same text, with the
        # same registry entries, runs the Flow (and plan) it gave last time.
        if not isinstance(source, str) or not _is_document(source):
            return self.load(source)
        key = (source, *((name, Same(value)) for name, value in self.registry.items()))
        return self._texts.get_or_make(key, lambda: self.load(source))

    def compile(self, source: FlowSource) -> FlowPlan:
        """Check the flow can run here (every tool bound) and return its plan."""
        return self._compiler.plan(self.load(source))

    async def arun(
        self,
        flow: FlowSource,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        listeners: Iterable[Listener] = (),
    ) -> RunResult:
        """Run a flow. Configuration problems raise; a failing run returns
        ``status="failed"`` with the node path and the message; a run that waits
        for a person or a client returns ``status="waiting"``, its ``run_id`` and
        the pending requests, and is saved in the store for :meth:`aresume`."""
        if self.backend is not None:
            services = self.services
            limits = {"max_concurrency": services.max_concurrency, "max_steps": services.max_steps,
                      "branch_timeout": services.branch_timeout,
                      "max_iterations": services.max_iterations}
            return await self.backend.arun(_to_component(flow, self.registry, self.load_policy),
                                           _plain_inputs(inputs), run_id=run_id, limits=limits,
                                           listeners=[*self.listeners, *listeners])
        component = self._loaded(flow)
        plan = self._compiler.plan(component)
        effects = self.services.effects
        now = effects.now()
        state = RunState(  # the flow's document and digest: at its first checkpoint
            run_id=run_id or effects.new_id(),
            status="running",
            flow={},
            digest="",
            inputs=_plain_inputs(inputs),
            metadata=dict(metadata or {}),
            created_at=now,
            updated_at=now,
        )
        if run_id is not None:
            await self._refuse_existing(run_id)
        return await self._execute(plan, state, effects.owner(), listeners=listeners)

    def astream(
        self,
        flow: FlowSource,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
    ) -> RunStream:
        """Run a flow and yield its events as they happen (``async for``); the
        RunResult is ``stream.result`` once the iteration ends."""
        return RunStream(
            lambda listener: self.arun(flow, inputs, run_id=run_id, listeners=[listener])
        )

    async def aresume(
        self, run_id: str, answers: Mapping[str, Any] | None = None,
        *, listeners: Iterable[Listener] = (), owner: str | None = None,
    ) -> RunResult:
        """Continue a saved run: answers map pending request ids to their answers
        (an InputMessageNode's text, a client tool's result, true/false for a
        confirmation). Recorded steps are replayed, not run again. ``owner``: the
        caller's claim on the run (from ``store.claim``), kept instead of a new one."""
        if self.backend is not None:
            return await self.backend.aresume(run_id, answers or {},
                                              listeners=[*self.listeners, *listeners])
        owner = owner or self.services.effects.owner()
        state = await self._store_call(self.store.claim, run_id, owner)
        try:
            if state.status in ("finished", "failed", "cancelled"):
                raise CheckpointError(
                    f"run '{run_id}' already {state.status}; there is nothing to resume"
                )
            pending = {item["id"]: item for item in state.pending}
            for request_id_, answer in (answers or {}).items():
                if request_id_ not in pending:
                    raise CheckpointError(
                        f"run '{run_id}' has no pending request '{request_id_}'",
                        hint=f"its pending requests are {sorted(pending)}",
                    )
                state.answers[pending[request_id_]["key"]] = answer
            plan = self._compiler.plan(self.flow_of(state))
            return await self._execute(plan, state, owner, listeners=listeners, stored=True)
        finally:
            await self._store_call(self.store.release, run_id, owner)

    def new_state(
        self, flow: FlowSource, inputs: Mapping[str, Any] | None = None, *,
        run_id: str | None = None, metadata: Mapping[str, Any] | None = None,
        history: list[dict[str, Any]] | None = None,
    ) -> RunState:
        """The state of a run not started yet, its flow checked: save it and
        :meth:`aresume` it to run it (a server does, so the run is in the store first).
        ``history``: messages said before it (earlier chat turns: an agent sees them)."""
        component = self._loaded(flow)
        self._compiler.plan(component)
        document, digest, secrets = self._document(component)
        self._flows.put(digest, component)
        if secrets:  # a server resumes the run from the store: keep what it leaves out
            self._secrets.put(digest, secrets)
        effects = self.services.effects
        now = effects.now()
        return RunState(run_id=run_id or effects.new_id(), status="running", flow=document,
                        digest=digest, inputs=_plain_inputs(inputs),
                        metadata={**(metadata or {}), **({HISTORY_KEY: history} if history
                                                         else {})},
                        created_at=now, updated_at=now)

    def flow_of(self, state: RunState) -> Flow:
        """The flow a saved run runs, read from its state once per document; the
        secrets it left out come from this runtime's registry, its LLM key override,
        or what this runtime kept of the flows it ran (CheckpointError if none has one)."""
        component = self._flows.get(state.digest)
        if component is None:
            registry = resume_registry(state.run_id, state.flow, self.registry,
                                       self._secrets.get(state.digest),
                                       self.services.llm_overrides.get("api_key"))
            component = self.load(loads(json.dumps(state.flow), format="json",
                                         registry=registry, **self.load_policy))
            component = self._flows.put(state.digest, component)
        return component

    async def _execute(
        self, plan: FlowPlan, state: RunState, owner: str,
        listeners: Iterable[Listener] = (), stored: bool = False,
    ) -> RunResult:
        journal = Journal(entries=state.entries, answers=state.answers)
        emitter = Emitter([*self.listeners, *listeners], run_id=state.run_id,
                          clock=self.services.effects.now_ns)
        run = Run(state.run_id, list(state.metadata.get(HISTORY_KEY) or ()), journal, emitter)
        state.owner = owner
        lease = None
        if not isinstance(self.store, MemoryStore):  # a shared store: others may take runs over
            lease = Lease(
                state.run_id,
                held=lambda: checkpoints.stored,
                interval=lambda: self.store.lease_timeout / 3,
                renew=lambda: self._store_call(self.store.renew, state.run_id, owner),
            )
        checkpoints = _Checkpoints(self, state, run, stored, lease, plan.flow)
        if self.checkpoint == "nodes":
            journal.on_record = checkpoints.running
        ctx = RunContext(self.services, run, (plan.name,), step=root_key(plan.name))
        work = run_flow(plan, ctx, dict(state.inputs))
        try:
            outcome = await (work if lease is None else lease.run(work))
        except Suspended as waiting:
            state.pending = [request.to_state() for request in waiting.requests]
            await checkpoints.save("waiting")
            result = RunResult("waiting", {}, run.messages, run_id=state.run_id,
                               pending=waiting.requests)
        except RunError as exc:
            info = ErrorInfo(node=exc.node or plan.name, message=describe(exc, node=False))
            state.error = {"node": info.node, "message": info.message}
            state.pending = []
            await checkpoints.save("failed")
            result = RunResult("failed", {}, run.messages, info, run_id=state.run_id,
                               exception=exc)
        except RunTakenOver:
            result = None  # told below, from lease.lost
        except BaseException:
            await checkpoints.abandon()
            raise
        else:
            state.outputs = outcome.outputs
            state.pending = []
            await checkpoints.save("finished")
            result = RunResult("finished", outcome.outputs, run.messages,
                               branch=outcome.branch, run_id=state.run_id)
        finally:
            await run.close()
            await run.events.drain()
        if lease is not None and lease.lost is not None:  # nothing of ours may be saved now
            lost = lease.lost
            info = ErrorInfo(node=plan.name, message=describe(lost, node=False))
            return RunResult("failed", {}, run.messages, info, run_id=state.run_id,
                             exception=lost)
        assert result is not None
        return result

    def _document(self, flow: Flow) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """The flow's document, digest and secrets, computed once per flow object."""

        def make() -> tuple[dict[str, Any], str, dict[str, Any]]:
            document = to_dict(flow)
            return document, flow_digest(document), sensitive_values(flow)

        return self._documents.get_or_make(flow, make)

    async def _save(self, state: RunState, run: Run, status: RunStatus, flow: Flow) -> None:
        if not state.digest:  # its first checkpoint
            state.flow, state.digest, secrets = self._document(flow)
            self._flows.put(state.digest, flow)
            if secrets:  # outlives the flow here: the document has none
                self._secrets.put(state.digest, secrets)
        state.status = status
        state.messages = list(run.messages)
        state.updated_at = self.services.effects.now()
        if not isinstance(self.store, MemoryStore):
            # Written in a thread while the run goes on: hand it a copy of what changes.
            state = dataclasses.replace(
                state, entries=dict(state.entries), answers=dict(state.answers),
                pending=list(state.pending),
            )
        await self._store_call(self.store.save, state)

    async def _refuse_existing(self, run_id: str) -> None:
        try:
            await self._store_call(self.store.load, run_id)
        except RunNotFound:
            return
        raise CheckpointError(
            f"a run with id '{run_id}' is already in the store",
            hint=f"resume it (`loom resume {run_id}`), delete it (`loom runs delete "
            f"{run_id}`) or choose another id",
        )

    async def _store_call(self, method: Callable[..., Any], *args: Any) -> Any:
        # Stores that touch disk or network run in a thread; the in-memory one inline.
        if isinstance(self.store, MemoryStore):
            return method(*args)
        return await asyncio.to_thread(method, *args)

    def run(
        self,
        flow: FlowSource,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        listeners: Iterable[Listener] = (),
    ) -> RunResult:
        """The blocking form of :meth:`arun`, for scripts and the CLI."""
        return _blocking(self.arun(flow, inputs, run_id=run_id, metadata=metadata,
                                   listeners=listeners))

    def resume(self, run_id: str, answers: Mapping[str, Any] | None = None) -> RunResult:
        """The blocking form of :meth:`aresume`."""
        return _blocking(self.aresume(run_id, answers))

    def close(self) -> None:
        self.services.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Checkpoints:
    """Saves one run's state in order, one write at a time. A checkpoint after a
    step ("running") that a later write already covers is skipped, so a burst of
    parallel steps costs a few writes, not one each. A write goes on even when
    the step that asked for it is cancelled, and the final save waits for it."""

    def __init__(
        self, runtime: Runtime, state: RunState, run: Run, stored: bool, lease: Lease | None,
        flow: Flow,
    ) -> None:
        self.runtime = runtime
        self.flow = flow
        self.state = state
        self.run = run
        self.stored = stored  # the store holds this run (it was resumed, or saved here)
        self.lease = lease
        self.lock = asyncio.Lock()
        self.asked = 0
        self.covered = 0

    async def running(self) -> None:
        await self.save("running")

    async def save(self, status: RunStatus) -> None:
        if status in ("finished", "failed") and not self.stored and not self.lock.locked():
            self.state.status = status  # never checkpointed: nothing to write
            return
        self.asked += 1
        write = asyncio.ensure_future(self._write(self.asked, status))
        write.add_done_callback(_taken)  # the asker may be cancelled before the write ends
        await asyncio.shield(write)

    async def _write(self, ticket: int, status: RunStatus) -> None:
        runtime = self.runtime
        async with self.lock:
            if status == "running" and self.covered >= ticket:
                return
            self.covered = self.asked
            if status in ("finished", "failed"):
                if not self.stored:
                    self.state.status = status
                    return  # never checkpointed: nothing to keep
                if not runtime.keep_finished:
                    self.state.status = status
                    self.stored = False
                    run_id = self.state.run_id
                    deleted = await runtime._store_call(
                        runtime.store.delete, run_id, self.state.owner
                    )
                    if not deleted and self.lease is not None:  # another process holds it
                        self.lease.lose(RunTakenOver(
                            f"run '{run_id}' was taken over by another process before it "
                            "finished here; it is left to that process",
                        ))
                    return
            try:
                await runtime._save(self.state, self.run, status, self.flow)
            except RunTakenOver as exc:
                if self.lease is None:
                    raise
                self.lease.lose(exc)  # stops the flow; the run ends as taken over
                return
            self.stored = True

    async def abandon(self) -> None:
        """The run stopped on an exception: give it up, so that another process
        can resume it from its last checkpoint at once."""
        async with self.lock:  # after a checkpoint still being written
            if self.stored and self.state.owner:
                with contextlib.suppress(Exception):
                    await self.runtime._store_call(
                        self.runtime.store.release, self.state.run_id, self.state.owner
                    )




def _taken(write: asyncio.Future[None]) -> None:
    if not write.cancelled():
        write.exception()


def _plain_inputs(inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(inputs or {})


def _is_document(source: str) -> bool:
    """JSON/YAML text, not a path."""
    text = source.lstrip()
    return text.startswith(("{", "component_type")) or "\n" in text


def _to_component(
    source: FlowSource, registry: Mapping[str, Any], policy: PolicyArgs
) -> Component:
    if isinstance(source, Component):
        return source
    if isinstance(source, Path):
        return load(source, registry=registry, **policy)
    if isinstance(source, str):
        if _is_document(source):
            return loads(source, registry=registry, **policy)
        return load(source, registry=registry, **policy)
    if type(source).__module__.startswith("pyagentspec"):
        from pyagentspec.serialization import AgentSpecSerializer  # the caller's own package

        return loads(
            AgentSpecSerializer().to_json(source), format="json", registry=registry, **policy
        )
    raise TypeError(
        f"cannot run a {type(source).__name__}: pass a loom component, a path, "
        "JSON/YAML text or a pyagentspec component"
    )
