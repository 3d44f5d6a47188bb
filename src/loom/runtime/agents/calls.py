"""What an agent can call: its tools, and loom's (submit the outputs, ask a worker,
message or hand over to another agent). Calls that reach outside go through
``ctx.effect`` (recorded, replayed on resume) or ``ctx.wait``, keyed by the call's
place in the agent's run (``llm3.call0``), so a resumed run never calls twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from loom import mcp
from loom.errors import NodeFailure, PlanError, describe
from loom.runtime.asking import is_yes
from loom.runtime.context import RunContext
from loom.runtime.http_call import HttpCall
from loom.runtime.keys import CLIENT, CONFIRM, toolbox_key
from loom.runtime.plan import Compiler
from loom.runtime.tools import BoundTool, ToolResultError, result_schema, split_result
from loom.runtime.values import coerce
from loom.spec.property import Property
from loom.spec.templates import to_text
from loom.spec.tools import (
    ClientTool,
    MCPTool,
    MCPToolBox,
    RemoteTool,
    ServerTool,
    Tool,
    ToolBox,
)
from loom.spec.types import describe_type, value_matches

SUBMIT_TOOL = "submit_outputs"
BRANCH_ARGUMENT = "next_branch"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass
class ToolResult:
    """What a call gives back to the model, and what it means for the agent's loop."""

    content: str
    error: bool = False
    outputs: dict[str, Any] | None = None  # the agent's outputs, accepted
    branch: str | None = None  # with outputs: the branch the agent chose
    handoff: Any = None  # a Runner that takes the conversation over


@dataclass
class Call:
    """One call of one model answer. ``key`` is unique in the agent's context."""

    ctx: RunContext
    key: str
    id: str
    name: str
    arguments: dict[str, Any]
    agent: str


class AgentTool:
    """A function the model may call. ``name`` is the name the model sees
    (letters, digits, ``_`` and ``-``); ``label`` the configuration's name."""

    label: str
    description: str
    parameters: list[Property]
    extra_schema: dict[str, Any]

    def __init__(self, label: str, description: str, parameters: Sequence[Property]) -> None:
        self.label = label
        self.name = label
        self.description = description
        self.parameters = list(parameters)
        self.extra_schema = {}

    def definition(self) -> dict[str, Any]:
        properties = {prop.title: _schema(prop) for prop in self.parameters}
        properties.update(self.extra_schema)
        required = [prop.title for prop in self.parameters if not prop.has_default]
        required += [title for title in self.extra_schema]
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {"type": "object", "properties": properties, "required": required},
            },
        }

    async def invoke(self, call: Call) -> ToolResult:
        raise NotImplementedError


def _schema(prop: Property) -> dict[str, Any]:
    schema = dict(prop.json_schema)
    schema.pop("title", None)
    return schema


def assign_names(tools: Sequence[AgentTool]) -> dict[str, AgentTool]:
    """Give every tool a name the API accepts, unique among ``tools``; the result
    maps both those names and the configuration's names to the tools."""
    taken: dict[str, AgentTool] = {}
    for tool in tools:
        base = _UNSAFE.sub("_", tool.label).strip("_")[:60] or "tool"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        tool.name = name
        taken[name] = tool
    lookup = dict(taken)
    for tool in tools:
        lookup.setdefault(tool.label, tool)
    return lookup


def check_arguments(
    params: Sequence[Property], arguments: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """The arguments with defaults filled in and values converted, or a problem
    the model can fix (a missing argument, a wrong type, an unknown name)."""
    known = {prop.title: prop for prop in params}
    unknown = sorted(set(arguments) - set(known))
    if unknown:
        return {}, f"unknown argument(s) {unknown}; the parameters are {sorted(known)}"
    values: dict[str, Any] = {}
    for prop in params:
        if prop.title in arguments:
            value = coerce(arguments[prop.title], prop.json_schema)
            if not value_matches(value, prop.json_schema):
                return {}, (f"argument '{prop.title}' must be {describe_type(prop.json_schema)}, "
                            f"got {json.dumps(arguments[prop.title])[:80]}")
            values[prop.title] = value
        elif prop.has_default:
            values[prop.title] = prop.default
        else:
            return {}, f"missing argument '{prop.title}'"
    return values, None


def parse_arguments(text: str) -> tuple[dict[str, Any], str | None]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        return {}, f"the arguments are not valid JSON ({exc.msg})"
    if not isinstance(value, dict):
        return {}, "the arguments must be a JSON object"
    return value, None


def result_text(tool: Tool, result: Any) -> str:
    """A tool's result as the model reads it: one output's value, several as a
    JSON object (the spec's convention), checked against the declared outputs."""
    outputs = list(tool.outputs or [])
    if not outputs:
        return "" if result is None else to_text(result)
    values = split_result(tool.name, outputs, result)
    return to_text(values[outputs[0].title]) if len(outputs) == 1 else to_text(values)


def refused(label: str) -> ToolResult:
    return ToolResult(f"The user refused to run '{label}'. Do not call it again with the "
                      "same arguments unless they ask you to.", error=True)


class _OwnTool(AgentTool):
    """A tool of the agent's configuration."""

    def __init__(self, tool: Tool, raise_errors: bool) -> None:
        super().__init__(tool.name, tool.description or "", list(tool.inputs or []))
        self.tool = tool
        self.confirm = bool(tool.requires_confirmation)
        self.raise_errors = raise_errors

    def confirmed(self, call: Call, arguments: dict[str, Any]) -> bool:
        answer = call.ctx.wait(
            "confirmation",
            prompt=f"Run tool '{self.label}' with {to_text(arguments)}?",
            tool_call={"id": call.id, "name": self.label, "arguments": arguments},
            at=(call.key, CONFIRM),
        )
        return is_yes(answer)

    async def invoke(self, call: Call) -> ToolResult:
        arguments, problem = check_arguments(self.parameters, call.arguments)
        if problem:
            return ToolResult(f"error: {problem}", error=True)
        if self.confirm and not self.confirmed(call, arguments):
            return refused(self.label)
        return await self.execute(call, arguments)

    async def execute(self, call: Call, arguments: dict[str, Any]) -> ToolResult:
        raise NotImplementedError

    async def recorded(
        self, call: Call, arguments: dict[str, Any], run: Callable[[], Awaitable[Any]]
    ) -> ToolResult:
        """Run the tool once (the result is journaled) and describe its result."""
        events = call.ctx.run.events
        tool = self.tool

        async def attempt() -> dict[str, Any]:
            if events.enabled:
                events.emit("tool_start", call.ctx.path, call.ctx.step, tool=tool,
                            inputs=arguments, request_id=call.id)
            try:
                content = result_text(tool, await run())
            except Exception as exc:
                if events.enabled:
                    events.emit("tool_end", call.ctx.path, call.ctx.step, tool=tool, error=exc,
                                request_id=call.id)
                if self.raise_errors:
                    raise NodeFailure(f"tool '{self.label}' failed: {describe(exc)}",
                                      call.ctx.path) from exc
                return {"content": f"error: {describe(exc)}", "error": True}
            if events.enabled:
                events.emit("tool_end", call.ctx.path, call.ctx.step, tool=tool,
                            outputs=content, request_id=call.id)
            return {"content": content, "error": False}

        value = await call.ctx.effect(call.key, attempt)
        return ToolResult(value["content"], bool(value["error"]))


class ServerAgentTool(_OwnTool):
    def __init__(self, tool: ServerTool, bound: BoundTool, raise_errors: bool) -> None:
        super().__init__(tool, raise_errors)
        self.bound = bound

    async def execute(self, call: Call, arguments: dict[str, Any]) -> ToolResult:
        effects = call.ctx.services.effects
        return await self.recorded(call, arguments, lambda: effects.tool(self.bound, arguments))


class ClientAgentTool(_OwnTool):
    """The run waits for the client's result (``Runtime.resume`` answers it)."""

    async def execute(self, call: Call, arguments: dict[str, Any]) -> ToolResult:
        answer = call.ctx.wait(
            "client_tool",
            tool_call={"id": call.id, "name": self.label, "arguments": arguments},
            at=(call.key, CLIENT), schema=result_schema(list(self.tool.outputs or [])),
        )
        try:
            return ToolResult(result_text(self.tool, answer))
        except ToolResultError:
            return ToolResult(to_text(answer))


class RemoteAgentTool(_OwnTool):
    """An HTTP request, made like an ApiNode's; the arguments fill the placeholders."""

    def __init__(self, tool: RemoteTool, compiler: Compiler, raise_errors: bool) -> None:
        super().__init__(tool, raise_errors)
        self.request = HttpCall(tool)

    async def execute(self, call: Call, arguments: dict[str, Any]) -> ToolResult:
        async def send() -> Any:
            outputs = await call.ctx.services.effects.http(self.request, arguments)
            if len(outputs) == 1:
                return next(iter(outputs.values()))
            return outputs

        return await self.recorded(call, arguments, send)


class McpAgentTool(_OwnTool):
    """An MCPTool (or a toolbox's tool): a call on the run's session with its server."""

    def __init__(self, tool: MCPTool, who: str, raise_errors: bool,
                 schema: dict[str, Any] | None = None) -> None:
        super().__init__(tool, raise_errors)
        self.who = who
        self.schema = schema  # a toolbox tool's parameters, as the server lists them

    def definition(self) -> dict[str, Any]:
        found = super().definition()
        if self.schema is not None and not self.parameters:
            found["function"]["parameters"] = self.schema
        return found

    async def invoke(self, call: Call) -> ToolResult:
        if self.schema is None or self.parameters:
            return await super().invoke(call)
        if self.confirm and not self.confirmed(call, call.arguments):
            return refused(self.label)  # the server checks the arguments
        return await self.execute(call, call.arguments)

    async def execute(self, call: Call, arguments: dict[str, Any]) -> ToolResult:
        tool = self.tool
        assert isinstance(tool, MCPTool)
        call.ctx.services.effects.mcp_ready()  # else the run fails, not telling the model

        async def send() -> Any:
            result = await call.ctx.services.effects.mcp(
                call.ctx.run, tool.client_transport, self.who, tool.retry_policy, tool.name,
                arguments)
            return mcp.result_value(list(tool.outputs or []), result)

        return await self.recorded(call, arguments, send)


async def toolbox_tools(ctx: RunContext, box: ToolBox, index: int, owner: str,
                        raise_errors: bool) -> list[AgentTool]:
    """The tools of an agent's MCPToolBox, listed once per agent run (journaled)."""
    who = f"{box.component_type} '{box.name}' (a toolbox of agent '{owner}')"
    if not isinstance(box, MCPToolBox):
        raise NodeFailure(f"{who} is not supported by loom's agents", ctx.path)

    async def discover() -> list[dict[str, Any]]:
        ctx.services.effects.mcp_ready()
        try:
            listed = await ctx.services.effects.mcp(ctx.run, box.client_transport, who,
                                                    box.retry_policy)
            return mcp.select(listed, box, who)
        except mcp.McpToolError as exc:
            raise NodeFailure(str(exc), ctx.path, hint=exc.hint) from exc

    found: list[AgentTool] = []
    for entry in await ctx.effect(toolbox_key(index), discover):
        spec = MCPTool(
            name=entry["name"], description=entry["description"],
            inputs=[Property(json_schema=p) for p in entry["inputs"] or []],
            client_transport=box.client_transport, retry_policy=box.retry_policy,
            requires_confirmation=entry["requires_confirmation"],
        )
        found.append(McpAgentTool(spec, f"tool '{spec.name}' of {who}", raise_errors,
                                  entry["input_schema"]))
    return found


class UnsupportedAgentTool(_OwnTool):
    async def execute(self, call: Call, arguments: dict[str, Any]) -> ToolResult:
        raise NodeFailure(
            f"{self.tool.component_type} '{self.label}' is not supported yet by loom's agents",
            call.ctx.path,
            hint="use a ServerTool, ClientTool or RemoteTool instead",
        )


def own_tool(tool: Tool, compiler: Compiler, owner: str, raise_errors: bool) -> AgentTool:
    """The agent-side form of one configured tool; a ServerTool must be bound."""
    if isinstance(tool, ServerTool):
        bound = compiler.services.tools.get(tool.name)
        if bound is None:
            raise PlanError(
                f"ServerTool '{tool.name}' (a tool of agent '{owner}') has no implementation",
                hint=f"register a function named '{tool.name}': Runtime(tools={{...}}) or "
                "`loom run --tools FILE.py`",
            )
        return ServerAgentTool(tool, bound, raise_errors)
    if isinstance(tool, ClientTool):
        return ClientAgentTool(tool, raise_errors)
    if isinstance(tool, RemoteTool):
        return RemoteAgentTool(tool, compiler, raise_errors)
    if isinstance(tool, MCPTool):
        return McpAgentTool(tool, f"MCPTool '{tool.name}' (a tool of agent '{owner}')",
                            raise_errors)
    return UnsupportedAgentTool(tool, raise_errors)


@dataclass
class Goal:
    """What the agent must deliver before it finishes: values for ``outputs``
    (those without a default at least) and, when given, one of ``branches``."""

    outputs: list[Property] = field(default_factory=list)
    branches: list[str] | None = None

    @property
    def needs_submit(self) -> bool:
        return bool(self.branches) or any(not prop.has_default for prop in self.outputs)

    @property
    def offers_submit(self) -> bool:
        return bool(self.outputs) or bool(self.branches)

    def defaults(self) -> dict[str, Any]:
        return {prop.title: prop.default for prop in self.outputs if prop.has_default}

    def schema(self) -> dict[str, Any]:
        """One JSON object holding every output (and the branch): for structured output."""
        tool = SubmitTool(self)
        return {
            "title": "outputs",
            "type": "object",
            "properties": {**{p.title: _schema(p) for p in self.outputs}, **tool.extra_schema},
            "required": [p.title for p in self.outputs if not p.has_default]
            + list(tool.extra_schema),
            "additionalProperties": False,
        }

    def accept(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
        """(outputs, branch, problem): the submitted values, checked."""
        data = dict(data)
        branch = data.pop(BRANCH_ARGUMENT, None) if self.branches else None
        if self.branches and branch not in self.branches:
            return {}, None, f"'{BRANCH_ARGUMENT}' must be one of {self.branches}"
        values, problem = check_arguments(self.outputs, data)
        return values, (str(branch) if branch is not None else None), problem


class SubmitTool(AgentTool):
    """``submit_outputs``: the agent's structured outputs; calling it ends the agent."""

    def __init__(self, goal: Goal) -> None:
        super().__init__(
            SUBMIT_TOOL,
            "Submit your final outputs once the task is done; this ends your turn. "
            "Call it exactly once, with every required value.",
            goal.outputs,
        )
        self.goal = goal
        if goal.branches:
            self.extra_schema = {
                BRANCH_ARGUMENT: {"type": "string", "enum": list(goal.branches),
                                  "description": "where the conversation goes next"}
            }

    async def invoke(self, call: Call) -> ToolResult:
        values, branch, problem = self.goal.accept(call.arguments)
        if problem:
            return ToolResult(f"error: {problem}; call {self.name} again", error=True)
        return ToolResult("Outputs submitted.", outputs=values, branch=branch)


Deliver = Callable[[Call, str | None, dict[str, Any]], Awaitable[str]]


class DelegateTool(AgentTool):
    """Asks another agentic component (a worker, a swarm member, a flow) and
    returns its answer; ``deliver`` runs it."""

    def __init__(self, label: str, description: str, parameters: Sequence[Property],
                 deliver: Deliver, message: str | None) -> None:
        super().__init__(label, description, parameters)
        self.deliver = deliver
        self.message = message  # the name of the free-text parameter, if any
        if message:
            self.extra_schema = {message: {"type": "string",
                                           "description": "what you ask, with all the context "
                                           "the recipient needs"}}

    async def invoke(self, call: Call) -> ToolResult:
        arguments = dict(call.arguments)
        text = None
        if self.message:
            text = arguments.pop(self.message, None)
            if not isinstance(text, str) or not text.strip():
                return ToolResult(f"error: missing argument '{self.message}'", error=True)
        values, problem = check_arguments(self.parameters, arguments)
        if problem:
            return ToolResult(f"error: {problem}", error=True)
        return ToolResult(await self.deliver(call, text, values))


class HandoffTool(AgentTool):
    """Hands the conversation with the user over to another agent of the swarm."""

    def __init__(self, label: str, description: str, target: Any, target_name: str) -> None:
        super().__init__(label, description, [])
        self.target = target
        self.target_name = target_name

    async def invoke(self, call: Call) -> ToolResult:
        return ToolResult(f"The conversation is handed over to {self.target_name}.",
                          handoff=self.target)
