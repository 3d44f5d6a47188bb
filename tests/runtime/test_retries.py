"""One retry policy for the three callers that retry: an LlmNode's LLM calls, an
ApiNode, and an agent's RemoteTool, each over real HTTP. Retry-After is waited
for (and capped), the number of attempts follows the policy, and a status that
cannot get better is not retried."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any, Protocol

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from loom.runtime import RunResult
from loom.spec import ApiNode, LlmNode
from loom.spec.agents import Agent
from loom.spec.tools import RemoteTool
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply

from .conftest import linear_flow, llm_config, prop, runtime, serve_app


class FlakyApp:
    """Answers ``{"answer": "ok"}`` once its queued failures are used up."""

    def __init__(self) -> None:
        self.failures: deque[tuple[int, str | None]] = deque()
        self.times: list[float] = []

    async def flaky(self, request: Request) -> Response:
        self.times.append(time.monotonic())
        if self.failures:
            status, after = self.failures.popleft()
            headers = {"Retry-After": after} if after is not None else {}
            return JSONResponse({"error": "busy"}, status_code=status, headers=headers)
        return JSONResponse({"answer": "ok"})


@pytest.fixture(scope="module")
def flaky_server() -> Iterator[tuple[FlakyApp, str]]:
    app = FlakyApp()
    with serve_app(Starlette(routes=[Route("/flaky", app.flaky)])) as url:
        yield app, url


class Subject(Protocol):
    def fail(self, n: int, status: int, retry_after: str | None = None) -> None: ...
    def times(self) -> list[float]: ...
    def run(self, policy: dict[str, Any]) -> RunResult: ...


class LlmSubject:
    def __init__(self, server: FakeLlmServer) -> None:
        self.server = server

    def fail(self, n: int, status: int, retry_after: str | None = None) -> None:
        self.server.fail_next(n, status, retry_after=retry_after)

    def times(self) -> list[float]:
        return [r.started for r in self.server.recorded]

    def run(self, policy: dict[str, Any]) -> RunResult:
        step = LlmNode(name="ask", prompt_template="Hi",
                       llm_config=llm_config(self.server, retry_policy=policy))
        return runtime().run(linear_flow("main", step, outputs=step.outputs or []))


class ApiSubject:
    def __init__(self, app: FlakyApp, url: str) -> None:
        self.app, self.url = app, url

    def fail(self, n: int, status: int, retry_after: str | None = None) -> None:
        self.app.failures.extend([(status, retry_after)] * n)

    def times(self) -> list[float]:
        return list(self.app.times)

    def run(self, policy: dict[str, Any]) -> RunResult:
        node = ApiNode(name="call", http_method="GET", url=self.url + "/flaky",
                       retry_policy=policy, outputs=[prop("answer")])
        return runtime().run(linear_flow("main", node, outputs=[prop("answer")]))


class RemoteToolSubject(ApiSubject):
    """An agent calls a RemoteTool once, then answers; the tool's server is the flaky one."""

    def __init__(self, app: FlakyApp, url: str, llm: FakeLlmServer) -> None:
        super().__init__(app, url)
        self.llm = llm

    def run(self, policy: dict[str, Any]) -> RunResult:
        tool = RemoteTool(name="lookup", http_method="GET", url=self.url + "/flaky",
                          retry_policy=policy, outputs=[prop("answer")])
        agent = Agent(name="helper", llm_config=llm_config(self.llm), system_prompt="You help.",
                      tools=[tool], human_in_the_loop=False)
        self.llm.script_sequence([ToolCallsReply([ScriptedToolCall("lookup", {})]), "done"])
        return runtime().run(agent)

    def tool_result(self) -> str:
        [message] = [m for m in self.llm.requests[-1]["messages"] if m["role"] == "tool"]
        return str(message["content"])


@pytest.fixture(params=["llm", "api_node", "remote_tool"])
def subject(request: pytest.FixtureRequest, fake_llm: FakeLlmServer,
            flaky_server: tuple[FlakyApp, str]) -> Subject:
    app, url = flaky_server
    app.failures.clear()
    app.times.clear()
    if request.param == "llm":
        return LlmSubject(fake_llm)
    if request.param == "api_node":
        return ApiSubject(app, url)
    return RemoteToolSubject(app, url, fake_llm)


def policy(**changes: Any) -> dict[str, Any]:
    """Quick retries (1 ms, no jitter) unless the server asks for longer."""
    return {"max_attempts": 1, "initial_retry_delay": 0.001, "max_retry_delay": 5.0,
            "jitter": None, **changes}


def succeeded(subject: Subject, result: RunResult) -> bool:
    if result.status != "finished":
        return False
    if isinstance(subject, RemoteToolSubject):
        return "ok" in subject.tool_result() and "error" not in subject.tool_result()
    return True


def gaps(subject: Subject) -> list[float]:
    times = subject.times()
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_retry_after_in_seconds_is_waited_for(subject: Subject) -> None:
    subject.fail(1, 429, retry_after="0.4")
    result = subject.run(policy())
    assert succeeded(subject, result), result.error
    [gap] = gaps(subject)
    assert gap >= 0.38  # the backoff alone would have waited 1 ms


def test_retry_after_is_capped_at_max_retry_delay(subject: Subject) -> None:
    subject.fail(1, 503, retry_after="3600")
    started = time.monotonic()
    result = subject.run(policy(max_retry_delay=0.2))
    assert succeeded(subject, result), result.error
    [gap] = gaps(subject)
    assert 0.19 <= gap and time.monotonic() - started < 60


@pytest.mark.parametrize("retries", [0, 2])
def test_attempts_follow_the_policy(subject: Subject, retries: int) -> None:
    subject.fail(10, 503)
    result = subject.run(policy(max_attempts=retries))
    assert not succeeded(subject, result)
    assert len(subject.times()) == retries + 1
    if not isinstance(subject, RemoteToolSubject):  # the agent reads the error and goes on
        assert result.status == "failed" and result.error is not None
        assert "503" in result.error.message


@pytest.mark.parametrize("status", [400, 401, 404])
def test_a_status_that_cannot_get_better_is_not_retried(subject: Subject, status: int) -> None:
    subject.fail(3, status, retry_after="0")
    result = subject.run(policy(max_attempts=3, recoverable_statuses={"429": []}))
    assert not succeeded(subject, result)
    assert len(subject.times()) == 1


def test_a_listed_status_is_retried(subject: Subject) -> None:
    subject.fail(1, 418)
    result = subject.run(policy(recoverable_statuses={"418": []}))
    assert succeeded(subject, result), result.error
    assert len(subject.times()) == 2


def test_retry_after_as_an_http_date_is_waited_for(
    flaky_server: tuple[FlakyApp, str]
) -> None:
    # HTTP dates have whole seconds: two seconds from now is at least one away.
    app, url = flaky_server
    app.failures.clear()
    app.times.clear()
    subject = ApiSubject(app, url)
    subject.fail(1, 503, retry_after=formatdate(time.time() + 2, usegmt=True))
    assert subject.run(policy()).status == "finished"
    [gap] = gaps(subject)
    assert gap >= 0.95
