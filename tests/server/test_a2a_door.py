"""The A2A door over real HTTP: loom's own A2A client (A2ASession, and an A2AAgent
in a flow) and the a2a-sdk client against a loom server; a task survives a restart."""

from __future__ import annotations

import asyncio
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
    Message,
    Role,
    SendMessageRequest,
    TaskState,
)

import loom  # noqa: E402
from cli.flows import chain, prop  # noqa: E402
from loom.a2a import A2ASession  # noqa: E402
from loom.server import ServerConfig, create_app  # noqa: E402
from loom.spec import ControlFlowEdge, EndNode, Flow, InputMessageNode, StartNode  # noqa: E402
from loom.spec.nodes import AgentNode  # noqa: E402
from loom.spec.remote_agents import A2AAgent, A2AConnectionConfig  # noqa: E402
from loom.testing import FakeLlmServer, serve_asgi  # noqa: E402

from .helpers import summarizer, write_configs  # noqa: E402


def asker() -> Flow:
    """Takes a request, asks a colour (input-required), ends with it."""
    ask = InputMessageNode(name="ask", message="Which colour for {{request}}?",
                           outputs=[prop("colour")])
    return chain("asker", ask, inputs=[prop("request")], outputs=[prop("colour")])


@pytest.fixture
def configs(tmp_path: Path, llm: FakeLlmServer) -> Path:
    return write_configs(tmp_path / "configs", summarizer=summarizer(llm.url), asker=asker())


@pytest.fixture
def serving(tmp_path: Path, configs: Path) -> Any:
    """``serving()``: a context manager serving the configs over one SQLite store."""
    def serve() -> Any:
        config = ServerConfig(directory=configs, store_url=f"sqlite:///{tmp_path}/a2a.sqlite3")
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


def test_a_loom_flow_calls_a_served_component_through_a2a(url: str) -> None:
    agent = A2AAgent(
        name="remote_asker", agent_url=f"{url}/a2a/asker", inputs=[prop("request")],
        outputs=[prop("colour")], connection_config=A2AConnectionConfig(name="c", timeout=10),
        session_parameters={"timeout": 10.0, "poll_interval": 0.05, "max_retries": 1})
    start = StartNode(name="start", inputs=[prop("request")])
    pick = AgentNode(name="pick", agent=agent)
    end = EndNode(name="end", inputs=[prop("colour")])
    flow = Flow(name="main", start_node=start, nodes=[start, pick, end],
                control_flow_connections=[
                    ControlFlowEdge(name="c1", from_node=start, to_node=pick),
                    ControlFlowEdge(name="c2", from_node=pick, to_node=end)])
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
