"""The A2A door over real HTTP: loom's own A2A client (A2ASession, and an A2AAgent
in a flow) and the a2a-sdk client against a loom server; a task survives a restart."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("a2a", reason="the A2A door needs a2a-sdk: pip install 'loom[a2a]'")

from a2a.client import A2ACardResolver, ClientConfig, ClientFactory  # noqa: E402
from a2a.helpers.proto_helpers import new_text_part  # noqa: E402
from a2a.types import (  # noqa: E402
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Role,
    SendMessageRequest,
    StreamResponse,
    TaskState,
)

import loom  # noqa: E402
from cli.flows import chain, prop  # noqa: E402
from loom.a2a import A2ASession  # noqa: E402
from loom.server import ServerConfig, create_app  # noqa: E402
from loom.spec import (  # noqa: E402
    ControlFlowEdge,
    EndNode,
    Flow,
    InputMessageNode,
    ServerTool,
    StartNode,
    ToolNode,
)
from loom.spec.nodes import AgentNode  # noqa: E402
from loom.spec.remote_agents import A2AAgent, A2AConnectionConfig  # noqa: E402
from loom.testing import FakeLlmServer, serve_asgi  # noqa: E402

from .helpers import summarizer, tool_flow, write_configs  # noqa: E402

NAP_SECONDS = 1.0


def asker() -> Flow:
    """Takes a request, asks a colour (input-required), ends with it."""
    ask = InputMessageNode(name="ask", message="Which colour for {{request}}?",
                           outputs=[prop("colour")])
    return chain("asker", ask, inputs=[prop("request")], outputs=[prop("colour")])


@pytest.fixture
def configs(tmp_path: Path, llm: FakeLlmServer) -> Path:
    return write_configs(tmp_path / "configs", summarizer=summarizer(llm.url), asker=asker(),
                         napper=tool_flow("napper", "nap", inputs=[prop("x")],
                                          outputs=[prop("y")]),
                         careful=chain("careful", ToolNode(name="nap", tool=ServerTool(
                             name="nap", inputs=[prop("x")], outputs=[prop("y")],
                             requires_confirmation=True)), inputs=[prop("x")],
                             outputs=[prop("y")]))


def nap(x: str) -> str:
    time.sleep(NAP_SECONDS)
    return x


@pytest.fixture
def serving(tmp_path: Path, configs: Path) -> Any:
    """``serving()``: a context manager serving the configs over one SQLite store."""
    def serve() -> Any:
        config = ServerConfig(directory=configs, store_url=f"sqlite:///{tmp_path}/a2a.sqlite3",
                              tools={"nap": nap})
        return serve_asgi(create_app(config=config), lifespan="on")
    return serve


@pytest.fixture
def url(serving: Any) -> Iterator[str]:
    with serving() as base:
        yield base


def session(url: str) -> A2ASession:
    return A2ASession(url, timeout=10, session_timeout=10, poll_interval=0.05, max_retries=1)


async def talk(url: str, *steps: tuple[str, bool]) -> list[Any]:
    """Send each text (on the task so far when the flag is set) and wait for it."""
    client = session(url)
    seen: list[Any] = []
    try:
        task_id = None
        for text, same in steps:
            sent = await client.send(text, task_id=task_id if same else None)
            seen.append(await client.wait(sent.task_id))
            task_id = sent.task_id
    finally:
        await client.close()
    return seen


def test_the_agent_card_names_the_component(url: str) -> None:
    card = httpx.get(f"{url}/a2a/summarizer/.well-known/agent-card.json").json()
    assert card["name"] == "summarizer"
    assert card["supportedInterfaces"][0]["url"] == f"{url}/a2a/summarizer/"
    missing = httpx.get(f"{url}/a2a/nope/.well-known/agent-card.json")
    assert missing.status_code == 404 and "no component 'nope'" in missing.text


def test_a_message_runs_the_flow_to_completed(url: str) -> None:
    (done,) = asyncio.run(talk(f"{url}/a2a/summarizer", ("the sea", False)))
    assert done.state == "completed"
    assert done.text == "fake answer to: Sum up the sea"
    assert done.artifacts[0]["data"] == [{"summary": "fake answer to: Sum up the sea"}]
    run = httpx.get(f"{url}/v1/runs/{done.task_id}").json()  # the task is the run
    assert run["status"] == "finished" and run["component"] == "summarizer"


def test_input_required_then_the_answer_completes_the_task(url: str) -> None:
    asked, done = asyncio.run(talk(f"{url}/a2a/asker", ("a car", False), ("red", True)))
    assert (asked.state, asked.text) == ("input-required", "Which colour for a car?")
    assert done.state == "completed" and done.task_id == asked.task_id
    assert done.artifacts[0]["data"] == [{"colour": "red"}]


def test_bad_inputs_fail_the_task_saying_why(url: str) -> None:
    async def send() -> Any:
        client = session(f"{url}/a2a/asker")
        try:
            sent = await client.send("", data={"nothing": 1})
            return await client.wait(sent.task_id)
        finally:
            await client.close()

    failed = asyncio.run(send())
    assert failed.state == "failed"
    assert "component 'asker' has no input 'nothing'" in failed.text


def test_a_restart_keeps_the_task(serving: Any) -> None:
    with serving() as first:
        (asked,) = asyncio.run(talk(f"{first}/a2a/asker", ("a boat", False)))
    assert asked.state == "input-required"

    async def later(base: str) -> tuple[Any, Any]:
        client = session(f"{base}/a2a/asker")
        try:
            kept = await client.wait(asked.task_id)
            await client.send("blue", task_id=asked.task_id)
            return kept, await client.wait(asked.task_id)
        finally:
            await client.close()

    with serving() as second:
        kept, done = asyncio.run(later(second))
    assert (kept.state, kept.text) == ("input-required", "Which colour for a boat?")
    assert done.state == "completed" and done.artifacts[0]["data"] == [{"colour": "blue"}]


def test_the_a2a_sdk_client_sends_and_cancels(url: str) -> None:
    async def use() -> tuple[Any, Any]:
        async with httpx.AsyncClient(timeout=10) as http:
            card = await A2ACardResolver(http, f"{url}/a2a/asker").get_agent_card()
            client = ClientFactory(ClientConfig(streaming=False, httpx_client=http)).create(card)
            message = Message(role=Role.ROLE_USER, message_id=uuid.uuid4().hex,
                              parts=[new_text_part("a hat")])
            task = None
            async for event in client.send_message(SendMessageRequest(message=message)):
                task = event.task
            assert task is not None
            cancelled = await client.cancel_task(CancelTaskRequest(id=task.id))
            await client.close()
            return task, cancelled

    task, cancelled = asyncio.run(use())
    assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    run = httpx.get(f"{url}/v1/runs/{task.id}").json()
    assert run["status"] == "cancelled"


def remote_flow(agent_url: str, given: str, wanted: str, poll_interval: float) -> Flow:
    """StartNode -> AgentNode(an A2AAgent at ``agent_url``) -> EndNode."""
    agent = A2AAgent(
        name="remote", agent_url=agent_url, inputs=[prop(given)], outputs=[prop(wanted)],
        connection_config=A2AConnectionConfig(name="c", timeout=10),
        session_parameters={"timeout": 20.0, "poll_interval": poll_interval, "max_retries": 1})
    start = StartNode(name="start", inputs=[prop(given)])
    call = AgentNode(name="call", agent=agent)
    end = EndNode(name="end", inputs=[prop(wanted)])
    return Flow(name="main", start_node=start, nodes=[start, call, end],
                control_flow_connections=[
                    ControlFlowEdge(name="c1", from_node=start, to_node=call),
                    ControlFlowEdge(name="c2", from_node=call, to_node=end)])


def test_a_loom_flow_calls_a_served_component_through_a2a(url: str) -> None:
    flow = remote_flow(f"{url}/a2a/asker", "request", "colour", poll_interval=0.05)
    runtime = loom.Runtime(use_env=False)
    try:
        waiting = runtime.run(flow, {"request": "a kite"})
        assert waiting.status == "waiting", waiting.error
        (request,) = waiting.pending
        assert (request.kind, request.prompt) == ("input", "Which colour for a kite?")
        done = runtime.resume(waiting.run_id, {request.id: "green"})
    finally:
        runtime.close()
    assert done.status == "finished", done.error
    assert done.outputs == {"colour": "green"}



async def sdk_client(http: httpx.AsyncClient, url: str, streaming: bool) -> Any:
    card = await A2ACardResolver(http, url).get_agent_card()
    assert card.capabilities.streaming
    return ClientFactory(ClientConfig(streaming=streaming, httpx_client=http)).create(card)


def user(text: str, task_id: str | None = None) -> SendMessageRequest:
    return SendMessageRequest(message=Message(role=Role.ROLE_USER, message_id=uuid.uuid4().hex,
                                              parts=[new_text_part(text)], task_id=task_id))


def kind(event: StreamResponse) -> str:
    """``task:submitted``, ``status:working``, ``artifact:outputs``..."""
    if event.HasField("task"):
        return "task:" + TaskState.Name(event.task.status.state)[11:].lower()
    if event.HasField("status_update"):
        return "status:" + TaskState.Name(event.status_update.status.state)[11:].lower()
    if event.HasField("artifact_update"):
        return "artifact:" + event.artifact_update.artifact.name
    return "message"


def test_message_stream_sends_status_and_artifact_updates(url: str) -> None:
    async def use() -> tuple[list[StreamResponse], list[StreamResponse]]:
        async with httpx.AsyncClient(timeout=10) as http:
            client = await sdk_client(http, f"{url}/a2a/asker", streaming=True)
            asked = [event async for event in client.send_message(user("a hat"))]
            task_id = asked[0].task.id
            done = [event async for event in client.send_message(user("black", task_id))]
            await client.close()
            return asked, done

    asked, done = asyncio.run(use())
    assert [kind(event) for event in asked] == [
        "task:submitted", "status:working", "status:input_required"]
    question = asked[-1].status_update.status.message
    assert question.parts[0].text == "Which colour for a hat?"
    assert [kind(event) for event in done] == [
        "status:working", "artifact:outputs", "status:completed"]
    artifact = done[1].artifact_update.artifact
    assert artifact.parts[0].text == "black"


def test_tasks_list_and_get_read_the_store_after_a_restart(serving: Any) -> None:
    async def start(base: str) -> list[str]:
        ids = []
        async with httpx.AsyncClient(timeout=10) as http:
            client = await sdk_client(http, f"{base}/a2a/asker", streaming=False)
            for text in ("a cup", "a pen"):
                async for event in client.send_message(user(text)):
                    ids.append(event.task.id)
            await client.close()
        return ids

    async def later(base: str) -> tuple[Any, ...]:
        async with httpx.AsyncClient(timeout=10) as http:
            client = await sdk_client(http, f"{base}/a2a/asker", streaming=False)
            listed = await client.list_tasks(ListTasksRequest())
            first = await client.list_tasks(ListTasksRequest(page_size=1))
            rest = await client.list_tasks(ListTasksRequest(
                page_size=1, page_token=first.next_page_token))
            done = await client.list_tasks(ListTasksRequest(
                status=TaskState.TASK_STATE_COMPLETED))
            got = await client.get_task(GetTaskRequest(id=ids[0]))
            other = await (await sdk_client(http, f"{base}/a2a/summarizer", streaming=False)
                           ).list_tasks(ListTasksRequest())
            await client.close()
            return listed, first, rest, done, got, other

    with serving() as first_server:
        ids = asyncio.run(start(first_server))
    with serving() as second_server:  # a restart: the SDK's copies are gone
        listed, first, rest, done, got, other = asyncio.run(later(second_server))
    assert [task.id for task in listed.tasks] == ids[::-1]  # the last updated first
    assert all(task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED for task in listed.tasks)
    assert listed.tasks[0].status.message.parts[0].text == "Which colour for a pen?"
    assert [task.id for task in first.tasks] == [ids[1]] and first.next_page_token == ids[1]
    assert [task.id for task in rest.tasks] == [ids[0]] and rest.next_page_token == ""
    assert list(done.tasks) == [] and list(other.tasks) == []
    assert got.status.state == TaskState.TASK_STATE_INPUT_REQUIRED


def test_a_loom_session_follows_a_working_task_by_its_stream(url: str) -> None:
    """With polls 30 s apart, only the task's event stream can tell the end this soon."""
    async def follow() -> tuple[Any, Any, float]:
        client = A2ASession(f"{url}/a2a/napper", timeout=10, session_timeout=20,
                            poll_interval=30, max_retries=1)
        try:
            sent = await client.send("", data={"x": "z"})
            started = time.monotonic()
            return sent, await client.wait(sent.task_id), time.monotonic() - started
        finally:
            await client.close()

    sent, done, took = asyncio.run(follow())
    assert sent.state in ("submitted", "working")
    assert done.state == "completed" and done.artifacts[0]["data"] == [{"y": "z"}]
    assert took < 10


def test_a_loom_a2a_agent_streams_from_a_served_component(url: str) -> None:
    flow = remote_flow(f"{url}/a2a/napper", "x", "y", poll_interval=30.0)
    runtime = loom.Runtime(use_env=False)
    try:
        started = time.monotonic()
        done = runtime.run(flow, {"x": "kite"})
        took = time.monotonic() - started
    finally:
        runtime.close()
    assert done.status == "finished", done.error
    assert done.outputs == {"y": "kite"} and took < 10


def test_message_stream_by_its_a2a_0_3_name(url: str) -> None:
    """A JSON-RPC caller of A2A 0.3 (``message/stream``, ``tasks/get``) is answered too."""
    message = {"kind": "message", "role": "user", "messageId": uuid.uuid4().hex,
               "parts": [{"kind": "text", "text": "a bag"}]}
    body = {"jsonrpc": "2.0", "id": 1, "method": "message/stream", "params": {"message": message}}
    with httpx.stream("POST", f"{url}/a2a/asker/", json=body, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        results = [json.loads(line[5:])["result"] for line in response.iter_lines()
                   if line.startswith("data:")]
    assert [item["kind"] for item in results] == ["task", "status-update", "status-update"]
    assert results[-1]["status"]["state"] == "input-required"
    got = httpx.post(f"{url}/a2a/asker/", json={
        "jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"id": results[0]["id"]}})
    assert got.json()["result"]["status"]["state"] == "input-required"


def test_a_confirmation_is_input_required_and_approve_runs_the_tool(url: str) -> None:
    asked, done = asyncio.run(talk(f"{url}/a2a/careful", ("z", False), ("approve", True)))
    assert asked.state == "input-required" and "Run tool 'nap'" in asked.text
    assert done.state == "completed" and done.artifacts[0]["data"] == [{"y": "z"}]
