"""A run as a conversation, for the OpenAI and A2A doors: a user message starts
a run (or answers what it waits for), the run goes on until it stops (waits or
ends), and what it stopped with becomes one assistant reply.

A client tool the run waits for is named to the client by a *call id*,
``<run id>.<request id>``: request ids are stable within a run only, so the
run's id travels with them and a reply to the call finds its run in the store
(after a restart too)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from loom.runtime.agents.wrap import is_implicit
from loom.server.catalog import Served
from loom.server.events import TOKEN_EVENT
from loom.server.manager import RunManager
from loom.server.problems import ApiError

CONFIRM_TOOL = "loom_confirm"
"""The pseudo-tool a confirmation comes back as: its arguments name the tool, its
arguments and the question; the client answers ``approve`` or ``deny``."""
APPROVE, DENY = ("approve", "yes", "y", "true", "ok"), ("deny", "no", "n", "false")
TURN_SECONDS = 300.0
"""How long one turn may run before the door answers with the run still going."""
LLM_END = "LlmGenerationResponse"


def call_id(run_id: str, request_id: str) -> str:
    return f"{run_id}.{request_id}"


def split_call_id(text: Any, where: str) -> tuple[str, str]:
    run_id, _, request_id = str(text).rpartition(".")
    if not run_id or not request_id:
        raise ApiError(422, "invalid_request", f"tool call id {text!r} names no loom run: give "
                       "the id of the tool call the server sent", where=where)
    return run_id, request_id


def inputs_for(served: Served, text: str, where: str) -> dict[str, Any] | None:
    """The run's inputs from a user message (``None``: the component takes none,
    so the message answers the first question the run asks)."""
    props = list(served.flow.inputs or [])
    if not props:
        return None
    required = [prop for prop in props if not prop.has_default]
    if len(required) == 1 and required[0].json_schema.get("type") == "string":
        return {required[0].title: text}
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        names = ", ".join(sorted(prop.title for prop in props))
        raise ApiError(422, "invalid_inputs", f"component '{served.id}' takes the inputs "
                       f"{names}: send the last user message as a JSON object of them, e.g. "
                       f"{json.dumps({prop.title: '...' for prop in required or props})}",
                       where=where)
    return data


def answer_value(text: str) -> Any:
    """A client tool's result from a message's text: JSON when it parses, else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def confirmed(value: Any, where: str) -> bool:
    """A confirmation's answer from a client's text: approve (yes) or deny (no)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().strip('"').lower()
    if text in APPROVE or text in DENY:
        return text in APPROVE
    raise ApiError(422, "invalid_answer", f"a {CONFIRM_TOOL} call is answered 'approve' or "
                   f"'deny', not {str(value)[:80]!r}", where=where)


def history_of(messages: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """The user and assistant turns of a chat, as text (system messages, tool calls
    and their results left out: the agent has its own prompt and tools)."""
    turns = []
    for index, item in enumerate(messages):
        role, content = item.get("role"), item.get("content")
        if item.get("type", "message") != "message":  # Responses' other items
            continue
        if role not in ("system", "developer", "tool", "assistant", "user"):
            raise ApiError(422, "invalid_request", f"unknown message role {role!r}",
                           where=f"{where}[{index}].role")
        if isinstance(content, list):
            content = "".join(str(part.get("text") or "") for part in content
                              if isinstance(part, dict))
        elif content is not None and not isinstance(content, str):
            raise ApiError(422, "invalid_request", "a message's content must be text or a "
                           "list of text parts", where=f"{where}[{index}].content")
        if role in ("user", "assistant") and content:
            turns.append({"role": role, "content": content})
    return turns


@dataclass
class Reply:
    """What a turn ends with: text, and the client tool calls the run waits for."""

    run_id: str
    status: str
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)


class Turn:
    """One user turn of a run: ``async for`` gives the LLM tokens as they come
    (``(llm call id, text)``); then ``reply()``. ``text`` answers the run's
    first question when the message did not go into its inputs."""

    def __init__(self, manager: RunManager, served: Served, run_id: str, token: str,
                 text: str | None = None) -> None:
        self.manager = manager
        self.served = served
        self.run_id = run_id
        self.token = token
        self.text = text
        self.record: dict[str, Any] = {}
        self.tokens: dict[str, list[str]] = {}
        self.usage: dict[str, int] | None = None

    @classmethod
    async def start(cls, manager: RunManager, served: Served, text: str, token: str,
                    where: str, metadata: dict[str, Any] | None = None,
                    run_id: str | None = None, inputs: dict[str, Any] | None = None,
                    history: list[dict[str, Any]] | None = None) -> Turn:
        """A new run (``inputs`` given: those, else from ``text``). ``history``: the
        earlier turns of a chat, which an agent sees before ``text``; a flow starts
        from ``text`` alone."""
        if inputs is None:
            inputs = inputs_for(served, text, where)
        if history and is_implicit(served.flow):
            history = [*history, {"role": "user", "content": text}]
            data, _ = await manager.start(served, inputs or {}, run_id, metadata, token,
                                          history)
            return cls(manager, served, data["run_id"], token)
        data, _ = await manager.start(served, inputs or {}, run_id, metadata, token)
        return cls(manager, served, data["run_id"], token, text if inputs is None else None)

    @classmethod
    async def answer(cls, manager: RunManager, served: Served, run_id: str,
                     answers: dict[str, Any], token: str) -> Turn:
        record = await manager.record(run_id)
        component = record.get("component")
        if component != served.id:
            raise ApiError(422, "invalid_request", f"run '{run_id}' is a run of "
                           f"{component!r}, not of {served.id!r}", where="model")
        kinds = {item["id"]: item["kind"] for item in record.get("pending") or []}
        answers = {key: confirmed(value, key) if kinds.get(key) == "confirmation" else value
                   for key, value in answers.items()}
        await manager.answer(run_id, answers, token)
        return cls(manager, served, run_id, token)

    async def __aiter__(self) -> AsyncIterator[tuple[str, str]]:
        while True:
            async for item in self._follow():
                yield item
            self.record = await self.manager.wait(self.run_id, TURN_SECONDS)
            first = (self.record.get("pending") or [{}])[0]
            if self.text is None or self.record["status"] != "waiting" \
                    or first.get("kind") != "input":
                return
            text, self.text = self.text, None
            await self.manager.answer(self.run_id, {first["id"]: text}, self.token)

    async def run(self) -> Reply:
        async for _ in self:
            pass
        return self.reply()

    async def _follow(self) -> AsyncIterator[tuple[str, str]]:
        log = self.manager.logs.get(self.run_id)
        if log is None:
            return
        after = log.first_seq
        while True:
            changed = log.changed
            items = log.since(after)
            for seq, kind, line in items:
                after = seq
                if kind == TOKEN_EVENT:
                    event = json.loads(line)
                    piece = str(event.get("content") or "")
                    self.tokens.setdefault(str(event.get("request_id")), []).append(piece)
                    if piece:
                        yield str(event.get("request_id")), piece
                elif kind == LLM_END:
                    event = json.loads(line)
                    usage = self.usage or {"input": 0, "output": 0}
                    usage["input"] += int(event.get("input_tokens") or 0)
                    usage["output"] += int(event.get("output_tokens") or 0)
                    self.usage = usage
            if not items:
                if log.done:
                    return
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(changed.wait(), 1.0)

    @property
    def live(self) -> bool:
        """Whether the reply is the LLM's text as it streams: an agent's last message."""
        return is_implicit(self.served.flow)

    def streamed(self, text: str) -> list[str] | None:
        """The token pieces of the one LLM call whose text is ``text``, if any."""
        for pieces in self.tokens.values():
            if pieces and "".join(pieces) == text:
                return pieces
        return None

    def reply(self) -> Reply:
        return reply_of(self.served, self.record)


def reply_of(served: Served, record: dict[str, Any]) -> Reply:
    run_id, status = record["run_id"], record["status"]
    if status in ("failed", "cancelled"):
        error = record.get("error") or {}
        raise ApiError(500, f"run_{status}", f"run '{run_id}' of '{served.id}' {status} at "
                       f"{error.get('node')}: {error.get('message')}", where=run_id)
    if status == "running":
        raise ApiError(504, "run_timeout", f"run '{run_id}' of '{served.id}' still runs after "
                       f"{TURN_SECONDS:g} s; follow it at /v1/runs/{run_id}", where=run_id)
    last = last_assistant(record.get("messages") or [])
    if status == "waiting":
        pending = record.get("pending") or []
        calls = [tool_call_of(run_id, item) for item in pending
                 if item["kind"] in ("client_tool", "confirmation") and item.get("tool_call")]
        asked = next((item.get("prompt") for item in pending if item.get("prompt")), None)
        if calls:  # a confirmation's question is said too (A2A shows it as the status)
            return Reply(run_id, status, last or str(asked or ""), calls, record)
        return Reply(run_id, status, last if last is not None else str(asked or ""), [], record)
    outputs = record.get("outputs") or {}
    declared = [prop.title for prop in served.flow.outputs or []]
    if is_implicit(served.flow) or not declared:
        text = last or ""
    elif len(declared) == 1 and isinstance(outputs.get(declared[0]), str):
        text = outputs[declared[0]]
    else:
        text = json.dumps(outputs, ensure_ascii=False)
    return Reply(run_id, status, text, [], record)


def tool_call_of(run_id: str, item: dict[str, Any]) -> dict[str, Any]:
    """The tool call a pending client tool (or confirmation: a :data:`CONFIRM_TOOL`
    call) is to an OpenAI client."""
    call = item["tool_call"]
    arguments = call.get("arguments") or {}
    if item["kind"] == "confirmation":
        arguments = {"tool": call["name"], "arguments": arguments, "question": item.get("prompt")}
    return {"id": call_id(run_id, item["id"]), "arguments": json.dumps(arguments),
            "name": CONFIRM_TOOL if item["kind"] == "confirmation" else call["name"]}


def last_assistant(messages: list[dict[str, Any]]) -> str | None:
    for message in reversed(messages):
        if message.get("role") == "assistant" and message.get("content"):
            return str(message["content"])
    return None
