"""Serving loom's app for a test: uvicorn on 127.0.0.1 (a free port, lifespan on),
in a thread of this process or as a `loom serve` subprocess; and small flows."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from cli.flows import chain, prop
from loom import dumps
from loom.spec import (
    Flow,
    InputMessageNode,
    LlmNode,
    OpenAiCompatibleConfig,
    ParallelFlowNode,
    Property,
    ServerTool,
    ToolNode,
)


def llm(url: str) -> OpenAiCompatibleConfig:
    return OpenAiCompatibleConfig(name="fake_llm", model_id="fake-model", url=url)


def greeter(url: str) -> Flow:
    """Asks a name (InputMessageNode), then an LLM greets it."""
    ask = InputMessageNode(name="ask", message="Your name?",
                           outputs=[prop("name")])
    greet = LlmNode(name="greet", llm_config=llm(url), prompt_template="Greet {{name}}",
                    outputs=[prop("greeting")])
    return chain("greeter", ask, greet, outputs=[prop("greeting")])


def summarizer(url: str) -> Flow:
    """One input, one LLM call."""
    node = LlmNode(name="summarize", llm_config=llm(url), prompt_template="Sum up {{text}}",
                   outputs=[prop("summary")])
    return chain("summarizer", node, inputs=[prop("text")], outputs=[prop("summary")])


def two_asks() -> Flow:
    """A ParallelFlowNode whose two branches each ask a question."""
    branches = [
        chain(f"branch_{x}", InputMessageNode(name=f"ask_{x}", message=f"{x}?",
                                              outputs=[prop(f"answer_{x}")]),
              outputs=[prop(f"answer_{x}")])
        for x in ("a", "b")
    ]
    fan = ParallelFlowNode(name="fan", subflows=branches,
                           outputs=[prop("answer_a"), prop("answer_b")])
    return chain("two_asks", fan, outputs=[prop("answer_a"), prop("answer_b")])


def tool_flow(name: str, tool: str, *, inputs: Sequence[Property] = (),
              outputs: Sequence[Property] = ()) -> Flow:
    server_tool = ServerTool(name=tool, inputs=list(inputs), outputs=list(outputs))
    return chain(name, ToolNode(name=tool, tool=server_tool), inputs=inputs, outputs=outputs)


def slow_summary(url: str) -> Flow:
    """A slow tool, then an LLM call: its token events stream while a client watches."""
    tool = ServerTool(name="slow", inputs=[prop("x")], outputs=[prop("y")])
    node = LlmNode(name="summarize", llm_config=llm(url), prompt_template="Sum up {{y}}",
                   outputs=[prop("summary")])
    return chain("slow_summary", ToolNode(name="slow", tool=tool), node,
                 inputs=[prop("x")], outputs=[prop("summary")])


def write_configs(directory: Path, **flows: Flow) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for stem, flow in flows.items():
        (directory / f"{stem}.json").write_text(dumps(flow))
    return directory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`loom serve` in a subprocess (stopped, or killed, by its test)."""

    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None,
                 ready_within: float = 30) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.devnull, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "loom"), "serve", *args,
             "--port", str(self.port)],
            env={**os.environ, **(env or {})}, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + ready_within
        while True:
            try:
                assert self.process.poll() is None, "loom serve exited"
                assert time.monotonic() < deadline, "loom serve did not get ready"
            except AssertionError:
                self.stop()
                raise
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def wait_status(client: httpx.Client, run_id: str, statuses: Sequence[str],
                timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data: dict[str, Any] = client.get(f"/v1/runs/{run_id}").json()
        if data.get("status") in statuses:
            return data
        assert time.monotonic() < deadline, f"run {run_id} stayed {data.get('status')}"
        time.sleep(0.05)
