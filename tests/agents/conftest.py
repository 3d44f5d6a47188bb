"""Agents over real HTTP: a module-wide FakeLlmServer, agents and runtimes in a line.

``agent("helper", tools=[...])`` builds an Agent whose LLM is the fake server;
``runtime({...})`` a Runtime that ignores the machine's LOOM_LLM_* variables and
is closed after the test; ``Recorder`` makes tools that remember when they ran.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

import loom
from loom.spec.agents import Agent
from loom.spec.llms import OpenAiCompatibleConfig
from loom.spec.property import Property
from loom.spec.tools import ClientTool, ServerTool, Tool
from loom.testing import FakeLlmServer
from loom.testing.asgi import serve_asgi
from runtime.conftest import FAST_RETRY
from runtime.conftest import prop as prop  # re-exported: the agent tests use them too
from runtime.conftest import props as props


def slow_cancellable_tool(
    events: list[str], on_start: Callable[[], None] | None = None
) -> Callable[[str], Any]:
    """An async tool that would take 3 s, logging start, done or cancelled, and its
    cleanup (which itself takes 50 ms, so a caller that does not await it is seen)."""

    async def slow(key: str) -> str:
        events.append(f"start {key}")
        if on_start is not None:
            on_start()
        try:
            await asyncio.sleep(3.0)
            events.append(f"done {key}")
            return key
        except asyncio.CancelledError:
            events.append(f"cancelled {key}")
            raise
        finally:
            await asyncio.sleep(0.05)
            events.append(f"cleaned {key}")

    return slow


def server_tool(name: str, inputs: Sequence[Property] = (), outputs: Sequence[Property] = (),
                **extra: Any) -> ServerTool:
    return ServerTool(name=name, inputs=list(inputs), outputs=list(outputs), **extra)


def client_tool(name: str, inputs: Sequence[Property] = (), outputs: Sequence[Property] = (),
                **extra: Any) -> ClientTool:
    return ClientTool(name=name, inputs=list(inputs), outputs=list(outputs), **extra)




def llm_config(server: FakeLlmServer, name: str = "fake_llm") -> OpenAiCompatibleConfig:
    return OpenAiCompatibleConfig(name=name, url=server.url, model_id="fake-model",
                                  retry_policy=dict(FAST_RETRY))


def make_agent(server: FakeLlmServer, name: str = "helper", prompt: str = "You help.",
               tools: Sequence[Tool] = (), **extra: Any) -> Agent:
    return Agent(name=name, llm_config=llm_config(server), system_prompt=prompt,
                 tools=list(tools), **extra)


_open_runtimes: list[loom.Runtime] = []


def runtime(tools: dict[str, Callable[..., Any]] | None = None, **options: Any) -> loom.Runtime:
    options.setdefault("use_env", False)
    rt = loom.Runtime(tools=tools, **options)
    _open_runtimes.append(rt)
    return rt


@pytest.fixture(autouse=True)
def _close_runtimes() -> Iterator[None]:
    yield
    while _open_runtimes:
        _open_runtimes.pop().close()


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        yield server


@pytest.fixture
def fake_llm(llm_server: FakeLlmServer) -> Iterator[FakeLlmServer]:
    """The module's fake LLM server with no scripts, latency or recorded requests."""
    llm_server.reset()
    llm_server.latency = 0.0
    yield llm_server
    llm_server.reset()
    llm_server.latency = 0.0


def tool_messages(body: dict[str, Any]) -> list[str]:
    """The tool results a request carried to the model."""
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


def system_prompt(body: dict[str, Any]) -> str:
    return next((m["content"] for m in body["messages"] if m["role"] == "system"), "")


def tool_names(body: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools") or []]


@dataclass
class Span:
    name: str
    args: dict[str, Any]
    start: float
    end: float | None = None


@dataclass
class Recorder:
    """Tools that record when they ran (monotonic seconds) and with what."""

    spans: list[Span] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sync_tool(self, name: str, delay: float = 0.0, result: Any = None) -> Callable[..., Any]:
        def tool(**args: Any) -> Any:
            span = Span(name, args, time.monotonic())
            with self.lock:
                self.spans.append(span)
            time.sleep(delay)
            span.end = time.monotonic()
            return result(**args) if callable(result) else result

        return tool

    def async_tool(self, name: str, delay: float = 0.0, result: Any = None) -> Callable[..., Any]:
        async def tool(**args: Any) -> Any:
            span = Span(name, args, time.monotonic())
            self.spans.append(span)
            await asyncio.sleep(delay)
            span.end = time.monotonic()
            return result(**args) if callable(result) else result

        return tool

    def named(self, name: str) -> list[Span]:
        return [span for span in self.spans if span.name == name]


serve_app = serve_asgi  # an ASGI app on 127.0.0.1 in a thread; yields its base URL
