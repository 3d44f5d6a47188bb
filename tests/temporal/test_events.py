"""A run's events reach the client on Temporal: the trace, live progress and
listeners see what they see locally, while the run goes on."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import loom
from loom.observability import TraceFile
from loom.observability.progress import LiveProgress
from loom.runtime.events import RuntimeEvent
from loom.spec.nodes import InputMessageNode
from loom.temporal import connect, eventlog
from loom.temporal.eventfeed import EventFeed
from runtime.conftest import linear_flow, prop, tool_node
from temporal.backends import backend
from temporal.test_scenarios import EXAMPLE, example_tools, nested_fan

pytestmark = pytest.mark.timeout(120)
CHUNK = "LlmGenerationChunkReceived"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def per_span(trace: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[str]]:
    """Event types by span (its type, path and step), chunks left out."""
    spans: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for line in trace:
        if line["type"] != CHUNK:
            spans[(line["span"]["type"], tuple(line["path"]), line["step"])].append(line["type"])
    return dict(spans)


def tree(trace: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """(span, parent span) pairs, each span named by its type, path and step."""
    names = {line["span"]["id"]: (line["span"]["type"], tuple(line["path"]), line["step"])
             for line in trace}
    return {(names[line["span"]["id"]], names.get(line["span"].get("parent_id")))
            for line in trace}


async def test_the_seed_flows_trace_on_temporal_is_the_local_one(
    temporal_server, task_queue, monkeypatch, llm_server, tmp_path
) -> None:
    monkeypatch.setenv("LOOM_EXAMPLE_TOOL_DELAY", "0")
    flow = loom.load(EXAMPLE / "flow.json")
    traces = {}
    for kind in ("local", "temporal"):
        path = tmp_path / f"{kind}.jsonl"
        async with backend(kind, temporal_server, task_queue, example_tools().tools,
                           llm_url=llm_server.url) as runtime:
            with TraceFile(path, include_content=True) as trace:
                runtime.listeners.append(trace)
                result = await runtime.arun(flow, {"username": "alice"})
        assert result.status == "finished", result.error
        traces[kind] = lines(path)
    local, remote = traces["local"], traces["temporal"]
    assert per_span(remote) == per_span(local)
    assert tree(remote) == tree(local)
    assert [line["type"] for line in remote if line["type"] != CHUNK] == \
        [line["type"] for line in remote]  # no streaming across an activity
    assert any(line["type"] == CHUNK for line in local)
    for ours, theirs in zip(remote, (line for line in local if line["type"] != CHUNK),
                            strict=True):
        assert set(ours) == set(theirs), ours["type"]  # the same envelope
        assert set(ours["span"]) == set(theirs["span"])
    assert {line["run_id"] for line in remote} == {result.run_id}
    def ends(trace: list[dict[str, Any]]) -> dict[tuple[Any, ...], Any]:
        return {(tuple(line["path"]), line["step"]): line["outputs"] for line in trace
                if line["type"] == "NodeExecutionEnd"}

    assert ends(remote) == ends(local)  # the content, with --trace-content


async def test_events_arrive_while_the_run_goes_on(temporal_server, task_queue) -> None:
    gate = threading.Event()

    def hold(text: str) -> str:
        gate.wait(30)
        return text

    flow = linear_flow("main", tool_node("hold", [prop("text")], [prop("held")]),
                       inputs=[prop("text")], outputs=[prop("held")])
    seen: list[RuntimeEvent] = []
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    progress = LiveProgress(console)
    async with backend("temporal", temporal_server, task_queue, {"hold": hold}) as runtime:
        run = asyncio.ensure_future(runtime.arun(flow, {"text": "hi"},
                                                 listeners=[seen.append, progress]))
        try:
            for _ in range(300):
                if any(e.type == "tool_start" for e in seen) or run.done():
                    break
                await asyncio.sleep(0.05)
            assert not run.done()
            assert [e.type for e in seen] == ["flow_start", "node_start", "tool_start"]
            assert seen[-1].path == ("main", "hold")
            assert seen[-1].data["inputs"] == {"text": "hi"}
            assert seen[-1].data["tool"].name == "hold"  # the flow's own component
            drawn = Console(file=io.StringIO(), width=100, record=True)
            drawn.print(progress.render())
            shown = drawn.export_text()
            assert "main" in shown and "hold" in shown and "ToolNode" in shown
        finally:
            gate.set()
            result = await run
            progress.close()
    assert result.status == "finished" and result.outputs == {"held": "hi"}
    assert [e.type for e in seen][-3:] == ["tool_end", "node_end", "flow_end"]
    assert seen[-1].type == "flow_end" and seen[-1].data["outputs"] == {"held": "hi"}


def ask_and_shout() -> Any:
    ask = InputMessageNode(name="ask", message="Say something", outputs=[prop("text")])
    return linear_flow("main", ask, tool_node("shout", [prop("text")], [prop("loud")]),
                       outputs=[prop("loud")])


async def test_a_waiting_runs_events_then_the_resumed_ones_numbered_on(
    temporal_server, task_queue
) -> None:
    types: dict[str, tuple[list[str], list[str]]] = {}
    for kind in ("local", "temporal"):
        before: list[RuntimeEvent] = []
        after: list[RuntimeEvent] = []
        async with backend(kind, temporal_server, task_queue,
                           {"shout": lambda text: text.upper()}) as runtime:
            waiting = await runtime.arun(ask_and_shout(), listeners=[before.append])
            assert waiting.status == "waiting"
            if kind == "temporal":
                handle = (await connect(temporal_server)).get_workflow_handle(waiting.run_id)
                up_to_wait = await handle.query("loom.events", 0)
                assert [e["seq"] for e in up_to_wait["events"]] == \
                    list(range(1, len(before) + 1))
            done = await runtime.aresume(waiting.run_id, {waiting.pending[0].id: "hey"},
                                         listeners=[after.append])
            assert done.outputs == {"loud": "HEY"}
            if kind == "temporal":
                page = await handle.query("loom.events", len(before))
        types[kind] = ([e.type for e in before], [e.type for e in after])
        if kind == "temporal":
            wait = next(e for e in before if e.type == "wait")
            assert wait.data["request"].prompt == "Say something"
            assert before[-1].type == "flow_end" and type(before[-1].data["error"]).__name__ \
                == "Suspended"
            assert [e["seq"] for e in page["events"]] == \
                list(range(len(before) + 1, len(before) + len(after) + 1))
            assert [e["type"] for e in page["events"]] == [e.type for e in after]
    assert types["temporal"] == types["local"]
    assert "wait" in types["temporal"][0] and "tool_end" in types["temporal"][1]


async def test_events_forgotten_before_they_are_read_are_marked(
    temporal_server, task_queue, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(eventlog, "KEPT_EVENTS", 10)  # the worker runs in this process
    async with backend("temporal", temporal_server, task_queue, {"work": lambda: 7}) as runtime:
        result = await runtime.arun(nested_fan())  # no listener: nothing read while it runs
        assert result.status == "finished"
        handle = (await connect(temporal_server)).get_workflow_handle(result.run_id)
        with TraceFile(tmp_path / "late.jsonl") as trace:
            feed = EventFeed(handle, [trace])
            assert await feed.read() == 11  # the opening flow_start, and the last 10
    trace_lines = lines(tmp_path / "late.jsonl")
    [marker] = [line for line in trace_lines if line["type"] == "loom.EventsDropped"]
    last = feed.after
    assert marker["count"] == last - 11 and marker["first"] == 2
    assert marker["path"] == ["main"]
    assert trace_lines[-1]["type"] == "FlowExecutionEnd"


def test_the_log_pages_and_shrinks_what_is_too_large(monkeypatch) -> None:
    log = eventlog.WorkflowEventLog()
    monkeypatch.setattr(eventlog, "PAGE_BYTES", 300_000)
    for i in range(5):
        log(RuntimeEvent("tool_end", ("main", "t"), f"k{i}", i, {"outputs": "x" * 100_000}))
    log(RuntimeEvent("tool_end", ("main", "t"), "big", 9, {"outputs": "y" * 500_000}))
    log(RuntimeEvent("llm_token", ("main", "t"), "big", 9, {"token": "z"}))
    first = log.page(0)
    assert [e["seq"] for e in first["events"]] == [1, 2]  # a page stays under its size
    assert first["last"] == 6 and first["dropped"] == 0
    rest = log.page(5)["events"]
    assert rest[0]["data"]["outputs"] == \
        "** 500,002 bytes, too large for the run's event log **"
    assert log.page(6)["events"] == []
