"""A worker: runs loom's workflow and its activities for one task queue."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Mapping
from typing import Any

import httpcore  # noqa: F401 - httpx imports it on first use; loaded here, before any workflow
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from loom.temporal.activities import Activities
from loom.temporal.claim_check import ClaimCheckStore
from loom.temporal.converter import connect
from loom.temporal.workflow import LoomRun

# loom (and what it imports) is used from outside the sandbox: its modules are
# deterministic code, and httpx cannot even be imported inside.
PASSED_THROUGH = ("loom", "pydantic", "pydantic_core", "yaml", "httpx", "httpcore", "rich")


def sandbox() -> SandboxedWorkflowRunner:
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def make_worker(
    client: Client, task_queue: str, activities: Activities, *, activities_only: bool = False,
    registry: Mapping[str, Any] | None = None, max_activities: int = 256,
) -> Worker:
    """A Worker for ``task_queue``; ``activities_only`` leaves the workflows to others.
    The workflows of a process load flows with the ``registry`` of its latest worker."""
    LoomRun.registry = dict(registry or {})
    return Worker(
        client, task_queue=task_queue, activities=activities.all(),
        workflows=[] if activities_only else [LoomRun], workflow_runner=sandbox(),
        max_concurrent_activities=max_activities,
    )


async def serve(
    target: str, namespace: str, task_queue: str, tools: Mapping[str, Callable[..., Any]],
    *, registry: Mapping[str, Any] | None = None, activities_only: bool = False,
    ready: Callable[[], None] | None = None, mcp_sessions: int = 64,
    mcp_idle_timeout: float = 300.0, claim_check: ClaimCheckStore | None = None,
) -> None:
    """Run a worker until SIGINT or SIGTERM; ``mcp_sessions`` and ``mcp_idle_timeout``
    bound the MCP sessions it keeps for runs; payloads over the threshold go to
    ``claim_check``, the store the clients use too."""
    client = await connect(target, namespace, claim_check=claim_check)
    activities = Activities(tools, registry, mcp_sessions=mcp_sessions,
                            mcp_idle_timeout=mcp_idle_timeout,
                            large_values=claim_check is not None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        async with make_worker(client, task_queue, activities, activities_only=activities_only,
                               registry=registry):
            if ready is not None:
                ready()
            await stop.wait()
    finally:
        await activities.aclose()
