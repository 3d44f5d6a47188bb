"""One conversation with a remote A2A agent through the a2a-sdk client.

The SDK reads the agent card and picks the protocol from it: A2A 1.0 where the
card offers it (every request then carries ``A2A-Version: 1.0``), 0.3 where the
card offers only that. Messages are sent with ``return_immediately``, and the
task is followed until it stops (completed, input-required, failed...): through
its event stream (``SubscribeToTask``) when the card offers streaming, else (or
when the stream breaks) by polling; so a run that dies while the remote agent
works can follow the same task again.

What comes back is a :class:`Snapshot` as plain JSON data: the run's journal
records it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from a2a.client import (
    A2ACardResolver,
    A2AClientError,
    AgentCardResolutionError,
    Client,
    ClientConfig,
    ClientFactory,
)
from a2a.helpers.proto_helpers import get_data_parts, get_text_parts, new_text_part
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskState,
)
from a2a.utils.constants import TransportProtocol
from a2a.utils.errors import A2AError
from google.protobuf.json_format import ParseDict
from google.protobuf.struct_pb2 import Value

from loom.llm.http import tls_context
from loom.llm.retry import send_retrying
from loom.spec.remote_agents import A2AAgent
from loom.spec.retry_policy import RetryPolicy

STOPPED = ("completed", "input-required", "auth-required", "failed", "rejected", "canceled")
"""States in which the remote task waits for nothing but us, or is over."""
CANCEL_TIMEOUT = 5.0


class RemoteError(Exception):
    """The remote agent could not be reached, or answered outside the protocol."""


class RemoteTimeout(RemoteError):
    """The remote task did not stop within the session's timeout."""


@dataclass
class Snapshot:
    """A remote task as it stands: its ids, state, last message and artifacts."""

    task_id: str
    context_id: str
    state: str
    text: str = ""
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "context_id": self.context_id, "state": self.state,
                "text": self.text, "artifacts": self.artifacts}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Snapshot:
        return cls(str(data["task_id"]), str(data["context_id"]), str(data["state"]),
                   str(data.get("text", "")), list(data.get("artifacts", [])))


def state_name(state: int) -> str:
    """``TASK_STATE_INPUT_REQUIRED`` -> ``input-required`` (the protocol's 0.3 names)."""
    name: str = TaskState.Name(state)
    return name.removeprefix("TASK_STATE_").lower().replace("_", "-")


def _parts_json(parts: Any) -> dict[str, Any]:
    return {"text": "\n".join(get_text_parts(parts)), "data": get_data_parts(parts)}


def snapshot(task: Task) -> Snapshot:
    artifacts = [{"name": a.name, **_parts_json(a.parts)} for a in task.artifacts]
    text = "\n".join(get_text_parts(task.status.message.parts))
    return Snapshot(task.id, task.context_id, state_name(task.status.state), text, artifacts)


def tls_verify(verify: bool, ca_file: str | None, cert_file: str | None,
               key_file: str | None) -> ssl.SSLContext:
    """The TLS context for these settings of A2AConnectionConfig; the default one
    is the process's, loaded once (loading the CAs costs 35 ms and more)."""
    if ca_file is None and cert_file is None and verify:
        return tls_context()
    if ca_file is None and cert_file is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no CA to load: nothing verified
    else:
        context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file is not None:
        context.load_cert_chain(cert_file, key_file)
    return context


class Retrying(httpx.AsyncBaseTransport):
    """``connection_config.retry_policy`` on each HTTP request of a session (the
    card, sends, polls, cancels), as for MCP's remote transports."""

    def __init__(self, policy: RetryPolicy, verify: ssl.SSLContext) -> None:
        self.policy = policy
        self.inner = httpx.AsyncHTTPTransport(verify=verify)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await send_retrying(self.policy, lambda: self.inner.handle_async_request(request),
                                   httpx.ConnectError)

    async def aclose(self) -> None:
        await self.inner.aclose()


class A2ASession:
    """A client of one remote agent, opened on first use and closed by ``close``.

    ``timeout`` bounds each HTTP request; ``wait`` polls every ``poll_interval``
    seconds for at most ``session_timeout``, retrying a failed poll
    ``max_retries`` times in a row; ``retry`` retries each HTTP request.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        verify: ssl.SSLContext | None = None,
        timeout: float = 600.0,
        session_timeout: float = 60.0,
        poll_interval: float = 2.0,
        max_retries: int = 5,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.verify = verify if verify is not None else tls_context()
        self.timeout = timeout
        self.session_timeout = session_timeout
        self.poll_interval = poll_interval
        self.max_retries = max_retries
        self.retry = retry
        self._http: httpx.AsyncClient | None = None
        self._client: Client | None = None
        self._streams: Client | None = None  # for SubscribeToTask, when the card offers it
        self.current: str | None = None  # the task being waited for, to cancel it
        self.versions: list[str] = []  # the protocol versions the card offers

    @classmethod
    def for_agent(cls, agent: A2AAgent) -> A2ASession:
        conn = agent.connection_config
        settings = agent.session_settings
        retry = None if conn.retry_policy is None else RetryPolicy.from_dict(conn.retry_policy)
        timeout = conn.timeout if retry is None else retry.request_timeout or conn.timeout
        return cls(
            agent.agent_url, headers=conn.headers, timeout=timeout, retry=retry,
            verify=tls_verify(conn.verify, conn.ssl_ca_cert, conn.cert_file, conn.key_file),
            session_timeout=float(settings["timeout"]),
            poll_interval=float(settings["poll_interval"]),
            max_retries=int(settings["max_retries"]),
        )

    async def _open(self) -> Client:
        if self._client is not None:
            return self._client
        transport = None if self.retry is None else Retrying(self.retry, self.verify)
        self._http = httpx.AsyncClient(headers=self.headers, verify=self.verify,
                                       timeout=self.timeout, transport=transport)
        bindings: list[str] = [TransportProtocol.JSONRPC, TransportProtocol.HTTP_JSON]
        factory = ClientFactory(ClientConfig(streaming=False, polling=True,
                                             httpx_client=self._http,
                                             supported_protocol_bindings=bindings))
        resolver = A2ACardResolver(self._http, self.url)
        card = await self._retrying(resolver.get_agent_card)
        self.versions = sorted({i.protocol_version for i in card.supported_interfaces})
        try:
            self._client = factory.create(card)
        except ValueError as exc:  # no interface the SDK can speak
            raise RemoteError(f"the agent card offers no usable interface: {exc}") from exc
        if card.capabilities.streaming:
            self._streams = ClientFactory(ClientConfig(
                streaming=True, httpx_client=self._http,
                supported_protocol_bindings=bindings)).create(card)
        return self._client

    async def send(
        self,
        text: str,
        data: Mapping[str, Any] | None = None,
        task_id: str | None = None,
        context_id: str | None = None,
    ) -> Snapshot:
        """Send a user message (on ``task_id`` to answer it); the task as it stands."""
        client = await self._open()
        parts = [new_text_part(text)] if text or not data else []
        if data:
            parts.append(Part(data=ParseDict(dict(data), Value())))
        message = Message(role=Role.ROLE_USER, message_id=uuid.uuid4().hex, parts=parts,
                          task_id=task_id, context_id=context_id)
        try:
            async for event in client.send_message(SendMessageRequest(message=message)):
                if event.HasField("task"):
                    return snapshot(event.task)
                if event.HasField("message"):  # an immediate answer, with no task
                    reply = event.message
                    return Snapshot(reply.task_id or task_id or "", reply.context_id or "",
                                    "completed", "\n".join(get_text_parts(reply.parts)))
        except (A2AError, httpx.HTTPError) as exc:
            raise RemoteError(f"sending the message failed: {exc}") from exc
        raise RemoteError("the agent answered the message with neither a task nor a message")

    async def wait(self, task_id: str) -> Snapshot:
        """Follow the task until it stops; RemoteTimeout past the session's timeout."""
        client = await self._open()
        deadline = time.monotonic() + self.session_timeout
        self.current = task_id
        if self._streams is not None:
            try:
                followed = await asyncio.wait_for(self._follow(task_id), self.session_timeout)
            except asyncio.TimeoutError:
                raise RemoteTimeout(f"task {task_id} did not stop within "
                                    f"{self.session_timeout:g} s") from None
            if followed is not None:
                self.current = None
                return followed
        while True:  # polled (after a stream, once: it reads the task whole)
            task = await self._retrying(lambda: client.get_task(GetTaskRequest(id=task_id)))
            found = snapshot(task)
            if found.state in STOPPED:
                self.current = None
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise RemoteTimeout(
                    f"task {task_id} was still {found.state} after {self.session_timeout:g} s"
                )
            await asyncio.sleep(min(self.poll_interval, left))

    async def _follow(self, task_id: str) -> Snapshot | None:
        """The task if its event stream shows it stopped at once; else None once the
        stream says it stopped, ends or breaks: a poll then reads it whole."""
        assert self._streams is not None
        try:
            async for event in self._streams.subscribe(SubscribeToTaskRequest(id=task_id)):
                if event.HasField("task") and state_name(event.task.status.state) in STOPPED:
                    return snapshot(event.task)
                if event.HasField("status_update") and \
                        state_name(event.status_update.status.state) in STOPPED:
                    break
        except (A2AClientError, A2AError, httpx.HTTPError, NotImplementedError):
            pass
        return None

    async def _retrying(self, call: Any) -> Any:
        failures = 0
        while True:
            try:
                return await call()
            except A2AClientError as exc:  # network errors and timeouts: worth another try
                status = exc.status_code if isinstance(exc, AgentCardResolutionError) else None
                if status is not None and status < 500:
                    raise RemoteError(str(exc)) from exc  # e.g. no agent card at that URL
                failures += 1
                if failures > self.max_retries:
                    tries = f"{failures} attempt" + ("s" if failures > 1 else "")
                    raise RemoteError(f"{exc} ({tries})") from exc
            except (A2AError, httpx.HTTPError) as exc:
                raise RemoteError(str(exc) or type(exc).__name__) from exc
            await asyncio.sleep(self.poll_interval)

    async def cancel(self, task_id: str | None = None) -> None:
        """Ask the agent to cancel the task (best effort, bounded in time)."""
        task_id = task_id or self.current
        if task_id is None or self._client is None:
            return
        try:
            await asyncio.wait_for(self._client.cancel_task(CancelTaskRequest(id=task_id)),
                                   CANCEL_TIMEOUT)
        except (A2AError, httpx.HTTPError, asyncio.TimeoutError):
            pass  # the task may be over already, or the agent gone: nothing more to do

    async def close(self) -> None:
        client, streams, http = self._client, self._streams, self._http
        self._client = self._streams = self._http = None
        for opened in (client, streams):
            if opened is not None:
                await opened.close()
        if http is not None:
            await http.aclose()
