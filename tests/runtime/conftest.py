"""Helpers to build small flows in a few lines, and the servers the tests talk to.

``linear_flow("main", node_a, node_b, inputs=[...], outputs=[...])`` wires
StartNode -> nodes -> EndNode; ``tool_subflow("sub", "tool")`` is a one-tool
flow for parallel nodes. LLM calls go over real HTTP to a module-wide
:class:`FakeLlmServer` (fixture ``fake_llm``); ApiNode tests use a small
Starlette app served by uvicorn (``serve_app``).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

import loom
from loom.spec import (
    ControlFlowEdge,
    DataFlowEdge,
    EndNode,
    Flow,
    Node,
    Property,
    ServerTool,
    StartNode,
    ToolNode,
)
from loom.spec.llms import OpenAiCompatibleConfig
from loom.spec.property import EMPTY
from loom.testing import FakeLlmServer
from loom.testing.asgi import serve_asgi

_ids = itertools.count(1)

# Retries that finish in milliseconds: one retry, 10 ms apart.
FAST_RETRY: dict[str, Any] = {
    "max_attempts": 1,
    "initial_retry_delay": 0.01,
    "max_retry_delay": 0.02,
    "jitter": None,
}


# --- properties -------------------------------------------------------------------


def exit_code_of_child(pid: int, timeout: float, hung: str) -> int:
    """Wait for a forked child; kill it and fail the test with ``hung`` past ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail(hung)


def prop(title: str, type_: str | dict[str, Any] = "string", default: Any = EMPTY) -> Property:
    """``prop("n", "integer", default=0)``; a dict gives the whole schema."""
    schema: dict[str, Any] = dict(type_) if isinstance(type_, dict) else {"type": type_}
    schema["title"] = title
    if default is not EMPTY:
        schema["default"] = default
    return Property(json_schema=schema)


def props(**types: str) -> list[Property]:
    """``props(x="integer", y="string")`` -> two properties."""
    return [prop(title, kind) for title, kind in types.items()]


# --- nodes and edges ----------------------------------------------------------------


def server_tool(name: str, inputs: Sequence[Property] = (), outputs: Sequence[Property] = ()
                ) -> ServerTool:
    return ServerTool(name=name, inputs=list(inputs), outputs=list(outputs))


def tool_node(tool: str, inputs: Sequence[Property] = (), outputs: Sequence[Property] = (),
              name: str | None = None, **extra: Any) -> ToolNode:
    """A ToolNode calling ServerTool ``tool`` (node name defaults to the tool's)."""
    return ToolNode(name=name or tool, tool=server_tool(tool, inputs, outputs), **extra)


def control(src: Node, dst: Node, branch: str | None = None) -> ControlFlowEdge:
    return ControlFlowEdge(name=f"c{next(_ids)}", from_node=src, to_node=dst, from_branch=branch)


def data(src: Node, output: str, dst: Node, input_: str | None = None) -> DataFlowEdge:
    return DataFlowEdge(
        name=f"d{next(_ids)}",
        source_node=src,
        source_output=output,
        destination_node=dst,
        destination_input=input_ or output,
    )


Wire = tuple[Node, str, Node, str] | tuple[Node, str, Node]
Link = tuple[Node, Node] | tuple[Node, Node, str]


def make_flow(
    name: str,
    nodes: Sequence[Node],
    links: Sequence[Link],
    wires: Sequence[Wire] | None = None,
    **extra: Any,
) -> Flow:
    """A flow from its nodes (the StartNode among them), control links
    ``(src, dst[, branch])`` and data wires ``(src, out, dst[, in])``;
    ``wires=None`` means name-based wiring (``data_flow_connections: null``)."""
    start = next(node for node in nodes if isinstance(node, StartNode))
    return Flow(
        name=name,
        start_node=start,
        nodes=list(nodes),
        control_flow_connections=[control(*link) for link in links],
        data_flow_connections=None if wires is None else [data(*wire) for wire in wires],
        **extra,
    )


def linear_flow(
    name: str,
    *steps: Node,
    inputs: Sequence[Property] = (),
    outputs: Sequence[Property] = (),
    wiring: str = "names",
    branch_name: str = "next",
    **extra: Any,
) -> Flow:
    """StartNode(inputs) -> steps... -> EndNode(outputs).

    ``wiring="names"`` leaves ``data_flow_connections`` null; ``"edges"`` adds
    one DataFlowEdge per input from the latest earlier node with an output of
    that title (what pyagentspec's FlowBuilder does).
    """
    start = StartNode(name="start", inputs=list(inputs))
    end = EndNode(name="end", inputs=list(outputs), branch_name=branch_name)
    chain: list[Node] = [start, *steps, end]
    links: list[Link] = [(a, b) for a, b in itertools.pairwise(chain)]
    wires: list[Wire] | None = None
    if wiring == "edges":
        wires = []
        for i, node in enumerate(chain[1:], start=1):
            for p in node.inputs or []:
                source = next(
                    (s for s in reversed(chain[:i]) if s.output(p.title) is not None), None
                )
                if source is not None:
                    wires.append((source, p.title, node, p.title))
    elif wiring != "names":
        raise ValueError(f"unknown wiring {wiring!r}")
    return make_flow(name, chain, links, wires, **extra)


def tool_subflow(
    name: str,
    tool: str,
    inputs: Sequence[Property] = (),
    outputs: Sequence[Property] = (),
    node_name: str | None = None,
) -> Flow:
    """A flow that calls one ServerTool and returns its outputs."""
    step = tool_node(tool, inputs, outputs, name=node_name or f"{tool}_step")
    return linear_flow(name, step, inputs=inputs, outputs=outputs)


def limits(**options: Any) -> dict[str, Any]:
    """Node metadata carrying loom options: ``metadata=limits(max_concurrency=2)``."""
    return {"loom": options}


_open_runtimes: list[loom.Runtime] = []


def runtime(tools: dict[str, Callable[..., Any]] | None = None, **options: Any) -> loom.Runtime:
    """A Runtime that ignores LOOM_LLM_* variables of the machine running the tests;
    its tool threads are shut down after the test."""
    options.setdefault("use_env", False)
    rt = loom.Runtime(tools=tools, **options)
    _open_runtimes.append(rt)
    return rt


@pytest.fixture(autouse=True)
def _close_runtimes() -> Iterator[None]:
    yield
    while _open_runtimes:
        _open_runtimes.pop().close()


def llm_config(server: FakeLlmServer, name: str = "fake_llm", **fields: Any
               ) -> OpenAiCompatibleConfig:
    fields.setdefault("retry_policy", dict(FAST_RETRY))
    return OpenAiCompatibleConfig(name=name, url=server.url, model_id="fake-model", **fields)


# --- recording tool calls ------------------------------------------------------------


class Spy:
    """A sync tool that remembers the arguments of each call: ``Spy(lambda x: x + 1)``."""

    def __init__(self, result: Callable[..., Any] | Any = None) -> None:
        self.result = result
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.result(**kwargs) if callable(self.result) else self.result

    def values(self, name: str) -> list[Any]:
        return [call[name] for call in self.calls]


@dataclass
class Span:
    name: str
    args: dict[str, Any]
    start: float
    end: float | None = None
    cancelled: bool = False
    thread: str = ""


@dataclass
class Recorder:
    """Makes tools that record when they ran and how many ran at once.

    Sync tools count under a lock (they run in threads); async tools count
    without one (they all run on the loop).
    """

    spans: list[Span] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _enter(self, name: str, args: dict[str, Any]) -> Span:
        span = Span(name, dict(args), time.monotonic(), thread=threading.current_thread().name)
        self.spans.append(span)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return span

    def _leave(self, span: Span) -> None:
        span.end = time.monotonic()
        self.in_flight -= 1

    def sync_tool(self, name: str, delay: float = 0.0,
                  result: Callable[..., Any] | Any = None) -> Callable[..., Any]:
        def tool(**args: Any) -> Any:
            with self.lock:
                span = self._enter(name, args)
            try:
                time.sleep(delay)
                return result(**args) if callable(result) else result
            finally:
                with self.lock:
                    self._leave(span)

        tool.__name__ = name
        return tool

    def async_tool(self, name: str, delay: float = 0.0,
                   result: Callable[..., Any] | Any = None) -> Callable[..., Any]:
        async def tool(**args: Any) -> Any:
            span = self._enter(name, args)
            try:
                await asyncio.sleep(delay)
                return result(**args) if callable(result) else result
            except asyncio.CancelledError:
                span.cancelled = True
                raise
            finally:
                self._leave(span)

        tool.__name__ = name
        return tool

    def named(self, name: str) -> list[Span]:
        return [span for span in self.spans if span.name == name]

    def finish_order(self) -> list[str]:
        done = [s for s in self.spans if s.end is not None and not s.cancelled]
        return [s.name for s in sorted(done, key=lambda s: s.end or 0.0)]


# --- servers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeLlmServer]:
    """One fake OpenAI-compatible server per test module."""
    with FakeLlmServer(latency=0.0) as server:
        yield server


@pytest.fixture
def fake_llm(llm_server: FakeLlmServer) -> Iterator[FakeLlmServer]:
    """The module's fake LLM server, with no scripts, failures or recorded requests."""
    llm_server.reset()
    llm_server.latency = 0.0
    yield llm_server
    llm_server.reset()
    llm_server.latency = 0.0


serve_app = serve_asgi  # an ASGI app on 127.0.0.1 in a thread; yields its base URL
