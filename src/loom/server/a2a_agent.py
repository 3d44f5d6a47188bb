"""One served component as an A2A agent, on a2a-sdk's server side: its agent
card, an executor that turns messages into runs, and a task store whose tasks
are the component's runs.

A task's id is its run's id. A message without a task id starts a run (a data
part of a JSON object gives the inputs, else the text does, as at the OpenAI
door); one on a task answers what its run waits for. The store keeps no task of
its own that could be lost: ``get`` reads the run from loom's store (after a
restart too) and keeps the SDK's copy, richer in history, only while it says
the same as the run."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from a2a.helpers.proto_helpers import (
    get_data_parts,
    get_text_parts,
    new_data_part,
    new_text_part,
)
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.agent_execution.simple_request_context_builder import (
    SimpleRequestContextBuilder,
)
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.server.tasks import TaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Artifact,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    Part,
    Role,
    SendMessageRequest,
    Task,
    TaskState,
    TaskStatus,
)
from a2a.utils.errors import InvalidParamsError
from starlette.requests import Request

from loom.runs import RunState
from loom.server.catalog import Served
from loom.server.manager import RunManager
from loom.server.problems import ApiError
from loom.server.turns import APPROVE, Reply, Turn, answer_value, reply_of

CONTEXT_KEY = "a2a_context_id"  # in the run's metadata
PAGE_SIZE = 50
"""Tasks in a page of ``tasks/list`` when the client names no ``page_size``."""
TASKS_KEPT = 1000
"""The SDK's copies of tasks kept per agent (a cache: the runs are the truth)."""
STATES = {
    "running": TaskState.TASK_STATE_WORKING,
    "waiting": TaskState.TASK_STATE_INPUT_REQUIRED,
    "finished": TaskState.TASK_STATE_COMPLETED,
    "failed": TaskState.TASK_STATE_FAILED,
    "cancelled": TaskState.TASK_STATE_CANCELED,
}


def card(served: Served, base_url: str) -> AgentCard:
    component = served.component
    description = getattr(component, "description", None) or f"loom {component.component_type}"
    return AgentCard(
        name=component.name, description=description, version="1",
        supported_interfaces=[AgentInterface(url=f"{base_url}/a2a/{served.id}/",
                                             protocol_binding="JSONRPC", protocol_version="1.0")],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text", "data"], default_output_modes=["text", "data"],
        skills=[AgentSkill(id=served.id, name=component.name, description=description,
                           tags=[component.component_type])],
    )


def card_json(served: Served, base_url: str) -> dict[str, Any]:
    return agent_card_to_dict(card(served, base_url))


def _message(role: Any, text: str, task_id: str, context_id: str, ident: str) -> Message:
    return Message(role=role, message_id=ident, parts=[new_text_part(text)], task_id=task_id,
                   context_id=context_id)


def task_of(served: Served, record: dict[str, Any], context_id: str) -> Task:
    """The A2A task a run is."""
    run_id, status = record["run_id"], record["status"]
    history = [
        _message(Role.ROLE_USER if item.get("role") == "user" else Role.ROLE_AGENT,
                 str(item.get("content") or ""), run_id, context_id, f"{run_id}-m{index}")
        for index, item in enumerate(record.get("messages") or [])
        if item.get("role") in ("user", "assistant") and item.get("content")
    ]
    task = Task(id=run_id, context_id=context_id, history=history,
                status=TaskStatus(state=STATES.get(status, TaskState.TASK_STATE_WORKING)))
    if status == "running":
        return task
    try:
        reply = reply_of(served, record)
    except ApiError as error:
        text = error.message
    else:
        text = reply.text
        if status == "finished":
            task.artifacts.append(outputs_artifact(run_id, reply))
    task.status.message.CopyFrom(_message(Role.ROLE_AGENT, text, run_id, context_id,
                                          f"{run_id}-status"))
    return task


def outputs_artifact(run_id: str, reply: Reply) -> Artifact:
    parts: list[Part] = [new_text_part(reply.text)]
    outputs = reply.record.get("outputs") or {}
    if outputs:
        parts.append(new_data_part(outputs))
    return Artifact(artifact_id=f"{run_id}-outputs", name="outputs", parts=parts)


class RunTasks(TaskStore):
    """Tasks as the runs of one component (see the module's docstring)."""

    def __init__(self, manager: RunManager, served: Served) -> None:
        self.manager = manager
        self.served = served
        self.copies: OrderedDict[str, Task] = OrderedDict()
        self.starting: set[str] = set()  # new tasks whose first event is not saved yet

    async def save(self, task: Task, context: ServerCallContext) -> None:
        self.starting.discard(task.id)
        copy = Task()
        copy.CopyFrom(task)
        self.copies[task.id] = copy
        self.copies.move_to_end(task.id)
        while len(self.copies) > TASKS_KEPT:
            self.copies.popitem(last=False)

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        copy = self.copies.get(task_id)
        if copy is None and task_id in self.starting:
            return None  # the SDK has yet to save the task this run is
        try:
            state = await self.manager.state(task_id)
            record = await self.manager.record(task_id)
        except ApiError:
            return copy  # started a moment ago: the run is not saved yet
        return self._task(state, record)

    def _task(self, state: RunState, record: dict[str, Any]) -> Task | None:
        """The task a stored run is (None: a run of another component); the SDK's
        copy while it says the same, for its richer history."""
        if record.get("component") != self.served.id:
            return None
        context_id = str(state.metadata.get(CONTEXT_KEY) or state.run_id)
        copy = self.copies.get(state.run_id)
        if copy is not None and copy.status.state == STATES.get(record["status"]):
            found = Task()
            found.CopyFrom(copy)
        else:
            found = task_of(self.served, record, context_id)
        found.status.timestamp.FromNanoseconds(int(state.updated_at * 1e9))
        return found

    async def list(self, params: ListTasksRequest,
                   context: ServerCallContext) -> ListTasksResponse:
        """The component's tasks read from the store (a restart loses none), the
        last updated first; ``page_token``: the id of the last task of the page before."""
        runs = sorted((run for run in await self.manager.call(self.manager.store.list)
                       if run.flow_name == self.served.flow.name),
                      key=lambda run: (-run.updated_at, run.run_id))
        after = params.status_timestamp_after.ToNanoseconds() / 1e9 \
            if params.HasField("status_timestamp_after") else None
        if params.page_token:
            ids = [run.run_id for run in runs]
            if params.page_token not in ids:
                raise InvalidParamsError(message=f"page_token {params.page_token!r} names no "
                                         "task of this agent")
            runs = runs[ids.index(params.page_token) + 1:]
        size = params.page_size or PAGE_SIZE
        tasks: list[Task] = []
        more = False
        for run in runs:
            if after is not None and run.updated_at <= after:
                continue
            try:
                state = await self.manager.state(run.run_id)
                task = self._task(state, await self.manager.record(run.run_id))
            except ApiError:
                continue  # deleted meanwhile
            if task is None or (params.context_id and task.context_id != params.context_id) \
                    or (params.status and task.status.state != params.status):
                continue
            if len(tasks) == size:
                more = True
                break
            tasks.append(task)
        return ListTasksResponse(tasks=tasks, page_size=size, total_size=len(tasks),
                                 next_page_token=tasks[-1].id if more else "")

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        self.copies.pop(task_id, None)


class RunExecutor(AgentExecutor):
    """A message starts the component's run, or answers the run of its task."""

    def __init__(self, manager: RunManager, served: Served, tasks: RunTasks) -> None:
        self.manager = manager
        self.served = served
        self.tasks = tasks

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        assert message is not None and context.task_id and context.context_id
        task_id, context_id = context.task_id, context.context_id
        if context.current_task is not None:
            context_id = context.current_task.context_id
        token = str(context.call_context.state.get("loom_token", ""))
        updater = TaskUpdater(event_queue, task_id, context_id)
        text = "\n".join(get_text_parts(message.parts))
        data = [item for item in get_data_parts(message.parts) if isinstance(item, dict)]
        try:
            if context.current_task is None:
                self.tasks.starting.add(task_id)
                await event_queue.enqueue_event(Task(
                    id=task_id, context_id=context_id, history=[message],
                    status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED)))
                inputs = data[0] if data and self.served.flow.inputs else None
                turn = await Turn.start(self.manager, self.served, text, token, "message",
                                        {CONTEXT_KEY: context_id}, task_id, inputs)
            else:
                turn = await Turn.answer(self.manager, self.served, task_id,
                                         await self._answers(task_id, text, data), token)
            await updater.start_work()
            await turn.run()
            reply = turn.reply()
        except ApiError as error:
            say = updater.new_agent_message([new_text_part(error.message)])
            if error.code == "run_cancelled":
                await updater.cancel(say)
            else:
                await updater.failed(say)
            return
        say = updater.new_agent_message(self._parts(reply))
        if reply.status == "waiting":
            await updater.requires_input(say)
        else:
            await updater.add_artifact(list(outputs_artifact(reply.run_id, reply).parts),
                                       artifact_id=f"{reply.run_id}-outputs", name="outputs")
            await updater.complete(say)

    async def _answers(self, run_id: str, text: str, data: list[dict[str, Any]]) -> dict[str, Any]:
        """The answer to the first thing the run waits for: text for a question,
        yes/no for a confirmation, the data (or JSON text) for a client tool."""
        record = await self.manager.record(run_id)
        pending = record.get("pending") or []
        if record["status"] != "waiting" or not pending:
            raise ApiError(409, "not_waiting", f"task {run_id} is {record['status']}, it "
                           "waits for no input")
        first = pending[0]
        if first["kind"] == "input":
            value: Any = text
        elif first["kind"] == "confirmation":
            value = text.strip().lower() in APPROVE  # as the loom_confirm call says
        else:
            value = data[0] if data else answer_value(text)
        return {first["id"]: value}

    @staticmethod
    def _parts(reply: Reply) -> list[Part]:
        parts = [new_text_part(reply.text)] if reply.text or not reply.tool_calls else []
        if reply.tool_calls:
            parts.append(new_data_part({"tool_calls": [
                {**call, "arguments": json.loads(call["arguments"])}
                for call in reply.tool_calls]}))
        return parts

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id = context.task_id or ""
        await self.manager.cancel(task_id)
        await TaskUpdater(event_queue, task_id, context.context_id or "").cancel()


class TaskContext(SimpleRequestContextBuilder):
    """A message on a task without a context id gets the task's (the SDK would
    make a new one, which the task refuses once the server restarted)."""

    def __init__(self, tasks: RunTasks) -> None:
        super().__init__()
        self.tasks = tasks

    async def build(self, context: ServerCallContext, params: SendMessageRequest | None = None,
                    task_id: str | None = None, context_id: str | None = None,
                    task: Task | None = None) -> RequestContext:
        if task_id and not context_id:
            found = await self.tasks.get(task_id, context)
            context_id = found.context_id if found is not None else None
        return await super().build(context, params, task_id, context_id, task)


class TokenContext(DefaultServerCallContextBuilder):
    """The SDK's call context, with who asks (for the per-token run limit)."""

    def build(self, request: Request) -> ServerCallContext:
        built = super().build(request)
        built.state["loom_token"] = request.scope.get("loom_token", "")
        return built


def dispatcher(manager: RunManager, served: Served) -> JsonRpcDispatcher:
    """The JSON-RPC endpoint of one component."""
    tasks = RunTasks(manager, served)
    handler = DefaultRequestHandler(RunExecutor(manager, served, tasks), tasks,
                                    card(served, "http://localhost"),
                                    request_context_builder=TaskContext(tasks))
    return JsonRpcDispatcher(request_handler=handler, context_builder=TokenContext(),
                             enable_v0_3_compat=True)  # also message/send, message/stream
