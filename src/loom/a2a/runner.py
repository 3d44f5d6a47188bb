"""An A2AAgent where loom runs agents: an AgentNode, or ``Runtime.run(agent)``.

Each exchange with the remote agent is two journaled effects under the node's
step: ``a2a<n>.send`` (the task as the send left it: its id) and ``a2a<n>.poll``
(the task once it stopped). A resumed run replays them, so it never sends a
message twice once the send was recorded, and a run that died while the
remote agent worked polls the same task again. A remote ``input-required``
is a loom input wait (``a2a<n>/input``); the answer goes to the same task.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from loom.a2a.client import STOPPED, A2ASession, RemoteError, RemoteTimeout, Snapshot
from loom.errors import NodeFailure
from loom.runtime.agents.base import ComponentRunner, Mode, Outcome, input_values, observed
from loom.runtime.agents.calls import AgentTool, Goal
from loom.runtime.agents.conversation import Thread, has_user_message
from loom.runtime.context import RunContext
from loom.runtime.keys import INPUT, START
from loom.runtime.plan import Compiler
from loom.spec.remote_agents import A2AAgent
from loom.spec.templates import to_text

WAITS_FOR_US = ("input-required", "auth-required")


def exchange(n: int) -> str:
    return f"a2a{n}"


class A2ARunner(ComponentRunner):
    """Talks to the remote agent of an A2AAgent; one client per invocation."""

    def __init__(self, component: A2AAgent, compiler: Compiler) -> None:
        super().__init__(component)
        self.agent = component

    async def converse(
        self,
        ctx: RunContext,
        thread: Thread,
        inputs: Mapping[str, Any],
        mode: Mode,
        goal: Goal,
        extra_tools: Sequence[AgentTool] = (),
    ) -> Outcome:
        return await observed(ctx, self.component, inputs, functools.partial(
            self._session, ctx, thread, inputs, mode, goal))

    async def _session(
        self, ctx: RunContext, thread: Thread, inputs: Mapping[str, Any], mode: Mode,
        goal: Goal,
    ) -> Outcome:
        session = A2ASession.for_agent(self.agent)
        try:
            return await self._talk(ctx, session, thread, inputs, mode, goal)
        except asyncio.CancelledError:
            # The loom run is cancelled: the remote task need not go on.
            await asyncio.shield(session.cancel())
            raise
        except RemoteTimeout as exc:
            await session.cancel()
            raise self._failure(ctx, f"timed out: {exc}",
                                "raise session_parameters.timeout, or check the agent") from exc
        except RemoteError as exc:
            raise self._failure(ctx, f"failed: {exc}",
                                "check that the agent runs at that URL") from exc
        finally:
            await asyncio.shield(session.close())

    def _failure(self, ctx: RunContext, what: str, hint: str) -> NodeFailure:
        return NodeFailure(f"A2A agent '{self.name}' at {self.agent.agent_url} {what}",
                           ctx.path, hint=hint)

    async def _talk(
        self, ctx: RunContext, session: A2ASession, thread: Thread,
        inputs: Mapping[str, Any], mode: Mode, goal: Goal,
    ) -> Outcome:
        if mode == "chat" and not self.inputs and not has_user_message(thread.messages):
            thread.add({"role": "user", "content": to_text(ctx.wait("input", at=(START,)))})
        text, data = self._first_message(ctx, thread, inputs)
        task_id: str | None = None
        context_id: str | None = None
        n = 0
        while True:
            key = exchange(n)
            sent = Snapshot.from_json(await ctx.effect(
                f"{key}.send", functools.partial(self._send, session, text, data, task_id,
                                                 context_id)))
            task_id, context_id = sent.task_id, sent.context_id
            done = sent
            if sent.state not in STOPPED:
                done = Snapshot.from_json(await ctx.effect(
                    f"{key}.poll", functools.partial(self._wait, session, sent)))
            reply = answer_text(done)
            if reply:
                thread.add({"role": "assistant", "content": reply, "agent": self.name})
            if done.state in WAITS_FOR_US:
                if done.state == "auth-required":
                    raise self._failure(ctx, "asks for authentication (auth-required)",
                                        "give the agent's credentials in "
                                        "connection_config.headers")
                answer = to_text(ctx.wait("input", prompt=reply or None, at=(key, INPUT)))
                thread.add({"role": "user", "content": answer})
                text, data, n = answer, None, n + 1
                continue
            if done.state != "completed":
                raise self._failure(ctx, f"ended its task {done.task_id} as {done.state}"
                                    + (f": {reply}" if reply else ""),
                                    "see the remote agent's own logs")
            outputs, problem = map_outputs(done, goal)
            if problem:
                raise self._failure(ctx, f"answered without {problem}",
                                    "name the outputs in the agent's data artifacts, or "
                                    "declare one string output for its text")
            return Outcome(outputs, reply)

    def _first_message(self, ctx: RunContext, thread: Thread, inputs: Mapping[str, Any]
                       ) -> tuple[str, dict[str, Any] | None]:
        """The conversation's last user message (else the inputs, as text), and
        the agent's inputs as a data part."""
        values = input_values(self.inputs, inputs)
        data = {p.title: values[p.title] for p in self.inputs if p.title in values} or None
        users = [m for m in thread.messages if m.get("role") == "user"]
        if users:
            return to_text(users[-1].get("content", "")), data
        if data is None:
            raise self._failure(ctx, "has nothing to be sent: the conversation has no user "
                                "message and the agent declares no inputs",
                                "put an InputMessageNode before the AgentNode, or give the "
                                "agent inputs")
        return to_text(next(iter(data.values())) if len(data) == 1 else data), data

    @staticmethod
    async def _send(session: A2ASession, text: str, data: dict[str, Any] | None,
                    task_id: str | None, context_id: str | None) -> dict[str, Any]:
        return (await session.send(text, data, task_id, context_id)).to_json()

    @staticmethod
    async def _wait(session: A2ASession, sent: Snapshot) -> dict[str, Any]:
        return (await session.wait(sent.task_id)).to_json()


def answer_text(done: Snapshot) -> str:
    """What the agent said: its last message, else the text of its artifacts."""
    if done.text:
        return done.text
    return "\n".join(a["text"] for a in done.artifacts if a.get("text"))


def map_outputs(done: Snapshot, goal: Goal) -> tuple[dict[str, Any], str | None]:
    """The node's outputs from the remote answer: a data artifact's keys, an
    artifact named after an output, else (for one output) the answer's text."""
    found: dict[str, Any] = {}
    names = {prop.title for prop in goal.outputs}
    for artifact in done.artifacts:
        for item in artifact.get("data", []):
            if isinstance(item, dict):
                found.update({k: v for k, v in item.items() if k in names})
        name = artifact.get("name")
        if name in names and name not in found:
            found[name] = _value(artifact)
    if len(goal.outputs) == 1 and not found:
        prop = goal.outputs[0]
        artifact_text = "\n".join(a["text"] for a in done.artifacts if a.get("text"))
        found[prop.title] = _parsed(artifact_text or done.text, prop.json_schema)
    values, _, problem = Goal(goal.outputs).accept(found)
    return values, (f"its outputs: {problem}" if problem else None)


def _value(artifact: Mapping[str, Any]) -> Any:
    data = artifact.get("data") or []
    return data[0] if len(data) == 1 and not artifact.get("text") else artifact.get("text", "")


def _parsed(text: str, schema: Mapping[str, Any]) -> Any:
    if schema.get("type") == "string":
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
