"""The agent loop: ask the model, run the tools it calls, until the task is done.

One agent invocation runs in its own context (its ``step`` prefixes every
journal key): each LLM turn and tool call is an effect, each client tool,
confirmation and user message a wait (keys in :mod:`loom.runtime.keys`).
A resumed run replays the loop: recorded turns and tool results come back from the journal, so nothing
outside is called twice and the conversation is rebuilt as it was.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from loom.errors import LlmError, NodeFailure, PlanError
from loom.runtime.agents.base import (
    ITERATIONS_KEY,
    TOOL_ERRORS_KEY,
    ComponentRunner,
    Mode,
    Outcome,
    input_values,
    iteration_limit,
    observed,
    option,
)
from loom.runtime.agents.calls import (
    AgentTool,
    Call,
    Goal,
    SubmitTool,
    ToolResult,
    assign_names,
    own_tool,
    parse_arguments,
)
from loom.runtime.agents.conversation import Thread, has_user_message, request_messages
from loom.runtime.agents.transforms import apply, supported
from loom.runtime.asking import traced_generate
from loom.runtime.context import RunContext
from loom.runtime.journal import PendingRequest, Suspended
from loom.runtime.keys import INPUT, START, call_id, effect_key, llm_turn, tool_call
from loom.runtime.plan import Compiler
from loom.spec.agents import Agent, SpecializedAgent
from loom.spec.nodes import NEXT
from loom.spec.templates import render, to_text

FALLBACK_PROMPT = (
    "Reply with only a JSON object holding your final outputs, following the schema."
)


class AgentRunner(ComponentRunner):
    """Runs an Agent or a SpecializedAgent (instructions and tools merged)."""

    def __init__(self, component: Agent | SpecializedAgent, compiler: Compiler) -> None:
        super().__init__(component)
        if isinstance(component, SpecializedAgent):
            base = component.agent
            extra = component.agent_specialization_parameters.additional_instructions
            self.system_prompt = base.system_prompt + (f"\n\n{extra}" if extra else "")
            metadata = {**(base.metadata or {}), **(component.metadata or {})}
            loom_options = {**(base.metadata or {}).get("loom", {}),
                            **(component.metadata or {}).get("loom", {})}
            metadata["loom"] = loom_options
        else:
            base = component
            self.system_prompt = component.system_prompt
            metadata = dict(component.metadata or {})
        self.llm_config = base.llm_config
        self.human_in_the_loop = component.human_in_the_loop
        self.max_iterations = option(metadata, ITERATIONS_KEY)
        if self.max_iterations is not None and int(self.max_iterations) < 1:
            raise PlanError(f"agent '{self.name}': max_iterations must be at least 1")
        errors = option(metadata, TOOL_ERRORS_KEY) or "model"
        if errors not in ("model", "raise"):
            raise PlanError(
                f"agent '{self.name}': tool_errors must be 'model' or 'raise', got {errors!r}"
            )
        self.tools = [own_tool(tool, compiler, self.name, errors == "raise")
                      for tool in component.tools]
        self.unsupported: str | None = None
        if base.toolboxes:
            box = base.toolboxes[0]
            self.unsupported = (f"{box.component_type} '{box.name}' (a toolbox of agent "
                                f"'{self.name}') is not supported yet by loom's agents")
        self.transforms = supported(base.transforms, self.name)

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
            self._loop, ctx, thread, inputs, mode, goal, extra_tools))

    async def _loop(
        self,
        ctx: RunContext,
        thread: Thread,
        inputs: Mapping[str, Any],
        mode: Mode,
        goal: Goal,
        extra_tools: Sequence[AgentTool],
    ) -> Outcome:
        if self.unsupported:
            raise NodeFailure(self.unsupported, ctx.path,
                              hint="use tools listed in the agent's 'tools' instead")
        system = render(self.system_prompt, input_values(self.inputs, inputs))
        tools: list[AgentTool] = [*self.tools, *extra_tools]
        if goal.offers_submit:
            tools.append(SubmitTool(goal))
        lookup = assign_names(tools)
        definitions = [tool.definition() for tool in tools]
        limit = iteration_limit(ctx, self.max_iterations)
        hitl = self.human_in_the_loop and mode != "delegate"
        if mode == "chat" and hitl and not has_user_message(thread.messages):
            self._ask_user(ctx, thread, None, START)
        turn = 0
        since_user = 0
        while True:
            if since_user >= limit:
                raise NodeFailure(
                    f"agent '{self.name}' reached its limit of {limit} LLM calls without "
                    "finishing",
                    ctx.path,
                    hint='raise it with metadata {"loom": {"max_iterations": N}} on the agent '
                    "or Runtime(max_iterations=N), or make the task clearer",
                )
            turn += 1
            since_user += 1
            key = llm_turn(turn)
            answer = await ctx.effect(
                key, functools.partial(self._generate, ctx, key, system, thread.messages,
                                       definitions)
            )
            text: str = answer["text"]
            calls: list[dict[str, Any]] = answer["tool_calls"]
            message: dict[str, Any] = {"role": "assistant", "content": text, "agent": self.name}
            if calls:
                message["tool_calls"] = [
                    {"id": c["id"], "type": "function",
                     "function": {"name": c["name"], "arguments": c["arguments"]}}
                    for c in calls
                ]
            thread.add(message)
            if calls:
                results = await self._run_calls(ctx, key, calls, lookup)
                for call, result in zip(calls, results, strict=True):
                    thread.add({"role": "tool", "tool_call_id": call["id"], "name": call["name"],
                                "content": result.content})
                done = next((r for r in results if r.outputs is not None), None)
                if done is not None:
                    assert done.outputs is not None
                    return Outcome(done.outputs, text, done.branch or NEXT)
                handoff = next((r for r in results if r.handoff is not None), None)
                if handoff is not None:
                    return Outcome(goal.defaults(), text, handoff=handoff.handoff)
                continue
            if goal.needs_submit:
                if hitl:
                    self._ask_user(ctx, thread, text, key)
                    since_user = 0
                    continue
                turn += 1
                values, branch = await self._fallback(ctx, llm_turn(turn), system, thread, goal)
                return Outcome(values, text, branch or NEXT)
            if mode == "chat" and hitl:
                self._ask_user(ctx, thread, text, key)
                since_user = 0
                continue
            return Outcome(goal.defaults(), text)

    def _ask_user(self, ctx: RunContext, thread: Thread, prompt: str | None, key: str) -> None:
        answer = ctx.wait("input", prompt=prompt or None, at=(key, INPUT))
        thread.add({"role": "user", "content": to_text(answer)})

    async def _generate(
        self,
        ctx: RunContext,
        key: str,
        system: str,
        messages: Sequence[dict[str, Any]],
        definitions: Sequence[dict[str, Any]],
        schema: dict[str, Any] | None = None,
        extra: str | None = None,
    ) -> dict[str, Any]:
        request = await apply(ctx, self.transforms, request_messages(system, messages))
        if extra:
            request.append({"role": "user", "content": extra})
        client = ctx.services.llm_client(self.llm_config)
        try:
            answer = await traced_generate(
                ctx, client, self.llm_config, request, tools=list(definitions) or None,
                response_schema=schema, request_id=effect_key(ctx.step, key),
            )
        except LlmError as exc:
            raise NodeFailure(
                f"LLM '{self.llm_config.name}' of agent '{self.name}' failed: {exc}",
                ctx.path,
                hint="check the server, or point the run elsewhere with --llm-url / LOOM_LLM_URL",
            ) from exc
        calls = [
            {"id": call.id or call_id(key, index), "name": call.name,
             "arguments": call.arguments or "{}"}
            for index, call in enumerate(answer.tool_calls)
        ]
        return {"text": answer.text or "", "tool_calls": calls}

    async def _run_calls(
        self,
        ctx: RunContext,
        key: str,
        calls: list[dict[str, Any]],
        lookup: dict[str, AgentTool],
    ) -> list[ToolResult]:
        """Run every call of one answer at the same time; results in call order.

        A call that must wait (a client tool, a confirmation) lets the others
        finish; the run then waits for all such requests at once.
        """

        async def one(index: int, spec: dict[str, Any]) -> ToolResult | Suspended:
            tool = lookup.get(spec["name"])
            if tool is None:
                names = sorted({t.name for t in lookup.values()})
                return ToolResult(f"error: there is no tool named '{spec['name']}'; the tools "
                                  f"are {names}", error=True)
            arguments, problem = parse_arguments(spec["arguments"])
            if problem:
                return ToolResult(f"error: {problem}", error=True)
            call = Call(ctx, tool_call(key, index), spec["id"], tool.name, arguments, self.name)
            try:
                return await tool.invoke(call)
            except Suspended as waiting:
                return waiting

        if len(calls) == 1:
            outcomes: list[ToolResult | Suspended] = [await one(0, calls[0])]
        else:
            outcomes = await _gather([one(i, spec) for i, spec in enumerate(calls)])
        pending: list[PendingRequest] = []
        for outcome in outcomes:
            if isinstance(outcome, Suspended):
                pending.extend(outcome.requests)
        if pending:
            raise Suspended(pending)
        return [outcome for outcome in outcomes if isinstance(outcome, ToolResult)]

    async def _fallback(
        self, ctx: RunContext, key: str, system: str, thread: Thread, goal: Goal
    ) -> tuple[dict[str, Any], str | None]:
        """The model answered without submitting its outputs and cannot ask the
        user: ask once more, for JSON that follows the outputs' schema."""
        schema = goal.schema()
        answer = await ctx.effect(
            key, lambda: self._generate(ctx, key, system, thread.messages, (), schema,
                                        FALLBACK_PROMPT)
        )
        text = answer["text"]
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise NodeFailure(
                f"agent '{self.name}' finished without its outputs, and its LLM answered "
                f"{text[:80]!r} when asked for them as JSON",
                ctx.path,
                hint="describe the outputs in the system prompt, or use a model that "
                "supports tool calls and structured output",
            )
        values, branch, problem = goal.accept(data)
        if problem:
            raise NodeFailure(f"agent '{self.name}' gave invalid outputs: {problem}", ctx.path)
        return values, branch


async def _gather(jobs: list[Any]) -> list[Any]:
    """Await every job concurrently; if one raises, cancel the others and raise."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    failed = next((t for t in tasks if t.done() and t.exception() is not None), None)
    if failed is not None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise failed.exception()
    return [task.result() for task in tasks]
