"""A real A2A server for the tests, built with a2a-sdk's server side and served by
uvicorn on a free port; what it does depends on the message it gets:

- ``ask ...``: asks "Which colour?" (input-required), then completes with the
  answer in a data artifact ``{"colour": ...}``;
- ``fail`` / ``reject``: ends the task failed / rejected, saying why;
- ``slow``: works for 30 s (a timeout, a cancel);
- ``work S``: works S seconds, then completes;
- anything else: completes with ``echo: <text>`` (and the data it got, as data).

The server counts what it got: ``sends`` (text, task id), the A2A-Version ``versions`` of its calls,
``polls``, ``cancels``. Set ``failures`` (statuses) to answer the next HTTP requests with
them (``refused`` counts them), ``stall`` to answer the next one that many seconds late.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("a2a", reason="the A2A tests need a2a-sdk: pip install 'loom[a2a]'")

from a2a.helpers.proto_helpers import (  # noqa: E402
    get_data_parts,
    get_text_parts,
    new_data_part,
    new_task_from_user_message,
    new_text_part,
)
from a2a.server.agent_execution import AgentExecutor, RequestContext  # noqa: E402
from a2a.server.events import EventQueue  # noqa: E402
from a2a.server.request_handlers import DefaultRequestHandler  # noqa: E402
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes  # noqa: E402
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater  # noqa: E402
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill  # noqa: E402
from starlette.applications import Starlette  # noqa: E402

from loom.testing.asgi import serve_asgi  # noqa: E402
from shared_folder import in_ci  # noqa: E402


@dataclass
class Seen:
    """What one server got, in order."""

    sends: list[tuple[str, str]] = field(default_factory=list)
    polls: int = 0
    cancels: list[str] = field(default_factory=list)
    versions: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)  # the X-Token header of its calls
    failures: list[int] = field(default_factory=list)
    refused: int = 0
    stall: float = 0.0

    def clear(self) -> None:
        self.sends.clear()
        self.cancels.clear()
        self.versions.clear()
        self.tokens.clear()
        self.polls = 0


class Scripted(AgentExecutor):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        assert message is not None
        task = context.current_task
        if task is None:
            task = new_task_from_user_message(message)
            await event_queue.enqueue_event(task)
        text = "\n".join(get_text_parts(message.parts))
        data = get_data_parts(message.parts)
        self.seen.sends.append((text, task.id))
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        first = "\n".join(get_text_parts(task.history[0].parts)) if task.history else text
        say = updater.new_agent_message
        if first.startswith("ask") and len(task.history) <= 1 and text == first:
            await updater.requires_input(say([new_text_part("Which colour?")]))
        elif first.startswith("ask"):
            await updater.add_artifact([new_data_part({"colour": text})], name="answer")
            await updater.complete(say([new_text_part(f"You chose {text}.")]))
        elif text == "fail":
            await updater.failed(say([new_text_part("no such order")]))
        elif text == "reject":
            await updater.reject(say([new_text_part("not my job")]))
        elif text == "slow":
            await updater.start_work()
            await asyncio.sleep(30)
        elif text.startswith("work "):
            await updater.start_work()
            await asyncio.sleep(float(text.split()[1]))
            await updater.add_artifact([new_text_part("worked")], name="result")
            await updater.complete()
        else:
            parts = [new_text_part(f"echo: {text}")] + [new_data_part(d) for d in data]
            await updater.add_artifact(parts, name="result")
            await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.seen.cancels.append(context.task_id or "")
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


class Recording:
    """ASGI middleware: the A2A-Version header and method of every JSON-RPC call."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.seen.failures:
            self.seen.refused += 1
            status = self.seen.failures.pop(0)
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"try again"})
            return
        if scope["type"] == "http" and self.seen.stall:
            stall, self.seen.stall = self.seen.stall, 0.0
            await asyncio.sleep(stall)
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = dict(scope["headers"])
            self.seen.versions.add(headers.get(b"a2a-version", b"").decode())
            self.seen.tokens.add(headers.get(b"x-token", b"").decode())
            body = b""

            async def replay() -> Any:
                return {"type": "http.request", "body": body, "more_body": False}

            while True:
                chunk = await receive()
                body += chunk.get("body", b"")
                if not chunk.get("more_body"):
                    break
            if b'"GetTask"' in body or b'"tasks/get"' in body:
                self.seen.polls += 1
            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)


@dataclass
class A2AServer:
    url: str
    seen: Seen


def card(url: str, version: str) -> AgentCard:
    return AgentCard(
        name="colours", description="Answers about colours", version="1",
        supported_interfaces=[AgentInterface(url=url + "/", protocol_binding="JSONRPC",
                                             protocol_version=version)],
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text"], default_output_modes=["text"],
        skills=[AgentSkill(id="colour", name="colour", description="picks colours",
                           tags=["colour"])],
    )


@contextmanager
def serve(version: str, **options: Any) -> Iterator[A2AServer]:
    """An A2A server whose card offers one JSON-RPC interface at ``version``
    (``options``: uvicorn's, e.g. its TLS files)."""
    seen = Seen()
    front = Recording(seen)
    with serve_asgi(front, **options) as url:
        agent_card = card(url, version)
        handler = DefaultRequestHandler(Scripted(seen), InMemoryTaskStore(), agent_card)
        front.app = Starlette(routes=create_agent_card_routes(agent_card) + create_jsonrpc_routes(
            handler, "/", enable_v0_3_compat=version.startswith("0.")))
        yield A2AServer(url, seen)


@pytest.fixture(scope="module")
def _server_10() -> Iterator[A2AServer]:
    with serve("1.0") as server:
        yield server


@pytest.fixture
def a2a_server(_server_10: A2AServer) -> A2AServer:
    """A 1.0 server, with nothing seen yet."""
    _server_10.seen.clear()
    return _server_10


@dataclass
class Certificates:
    """A CA and, signed by it, a server certificate for 127.0.0.1 and a client one."""

    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    if shutil.which("openssl") is None:
        message = "the TLS tests make their certificates with the openssl command, not found"
        if in_ci():
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    where = tmp_path_factory.mktemp("tls")
    ca, ca_key = str(where / "ca.pem"), str(where / "ca.key")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=loom test CA", "-keyout", ca_key, "-out", ca)
    names = {}
    for who, extension in (("server", "subjectAltName=IP:127.0.0.1"),
                           ("client", "extendedKeyUsage=clientAuth")):
        key, csr, cert = (str(where / f"{who}.{ext}") for ext in ("key", "csr", "pem"))
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}", "-keyout", key,
                 "-out", csr)
        extfile = where / f"{who}.ext"
        extfile.write_text(extension + "\n")
        _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                 "-days", "2", "-extfile", str(extfile), "-out", cert)
        names[who] = (cert, key)
    return Certificates(ca, *names["server"], *names["client"])
