"""Committed ``loom.run/1`` checkpoints of runs that wait, and how they were made.

``checkpoints/<name>.flow.json`` is a flow (or agent) config whose LLM URL is a
placeholder (runs point it at the test server with ``llm={"url": ...}``);
``checkpoints/<name>.checkpoint.json`` is the state of a run of it that waits,
as a store keeps it (owner cleared, times fixed). test_checkpoint_fixtures.py
resumes the committed files and checks that a run made today writes the same
bytes, so a change of the step-key grammar or of the journal's shape is caught.

Regenerate them only on purpose (a new format version, a new fixture):

    .venv/bin/python tests/runtime/checkpoint_fixtures.py
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import loom
from loom.runs import RunState
from loom.runtime.journal import PendingRequest
from loom.stores import MemoryStore
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply

DIR = Path(__file__).resolve().parent / "checkpoints"
FIXED_TIME = 1_750_000_000.0


class Calls:
    """Tools that count their calls, by tool name."""

    def __init__(self) -> None:
        self.made: dict[str, list[dict[str, Any]]] = {}

    def tool(self, name: str, result: Callable[..., Any], is_async: bool = False) -> Any:
        def record(kwargs: dict[str, Any]) -> Any:
            self.made.setdefault(name, []).append(kwargs)
            return result(**kwargs)

        if is_async:
            async def async_tool(**kwargs: Any) -> Any:
                return record(kwargs)

            return async_tool

        def sync_tool(**kwargs: Any) -> Any:
            return record(kwargs)

        return sync_tool

    def count(self, name: str) -> int:
        return len(self.made.get(name, []))


@dataclass
class Fixture:
    """One waiting run: how it starts, what resumes it, and what it must end with."""

    name: str
    inputs: dict[str, Any]
    tools: Callable[[Calls], dict[str, Any]]
    script: Callable[[FakeLlmServer], None]
    answer: Callable[[PendingRequest], Any]
    outputs: dict[str, Any]
    # Calls made before the wait (replayed on resume) and after it.
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    llm_before: int = 0
    llm_after: int = 0
    last_message: str | None = None
    # Requests answered by a first resume before the checkpoint is taken (the
    # checkpoint then holds answers, and the entries of the steps they unblocked).
    first: Callable[[PendingRequest], bool] | None = None
    config: str = ""  # the flow config's name, when not the fixture's

    @property
    def flow_path(self) -> Path:
        return DIR / f"{self.config or self.name}.flow.json"

    @property
    def checkpoint_path(self) -> Path:
        return DIR / f"{self.name}.checkpoint.json"

    @property
    def run_id(self) -> str:
        return f"fixture-{self.name}"


def _branches_tools(calls: Calls) -> dict[str, Any]:
    return {
        "tick": calls.tool("tick", lambda n: n + 1),
        "lookup": calls.tool("lookup", lambda user: {"title": f"Dr {user}",
                                                     "tags": ["red", "blue"]}),
        "stamp": calls.tool("stamp", lambda title: f"[{title}]", is_async=True),
        "count": calls.tool("count", lambda title: len(title)),
        "apply_tag": calls.tool("apply_tag", lambda tag: f"#{tag}"),
        "greet": calls.tool("greet", lambda name, color, size, collected_applied:
                            f"{name}/{color}/{size}/{','.join(collected_applied)}"),
    }


def _branches_answer(request: PendingRequest) -> Any:
    if request.kind == "input":
        return "Ada"
    if request.kind == "client_tool":
        return {"color": "green"}
    return True


def _agent_tools(calls: Calls) -> dict[str, Any]:
    return {
        # Longer than the transform's max_message_size: the agent's next request
        # carries a summary of it (an effect of its own).
        "get_price": calls.tool("get_price", lambda item: f"{item} costs 3.5 euros per box "
                                "of twenty bags, delivered within two days"),
        "place_order": calls.tool("place_order", lambda item: f"order 42 ({item})"),
    }


def _agent_script(server: FakeLlmServer) -> None:
    server.script_sequence([
        ToolCallsReply([ScriptedToolCall("get_price", {"item": "tea"})]),
        ToolCallsReply([ScriptedToolCall("get_location", {}),
                        ScriptedToolCall("place_order", {"item": "tea"})]),
        "Ordered tea for Paris.",
    ], system="You are a shopper")
    server.script(None, "tea, 3.5 euros a box", system="Please make a summary")


def _agent_answer(request: PendingRequest) -> Any:
    return {"city": "Paris"} if request.kind == "client_tool" else True


def _team_script(server: FakeLlmServer) -> None:
    server.script_sequence([
        ToolCallsReply([ScriptedToolCall("researcher", {"task": "find the city"})]),
        "Shall I submit Paris?",  # no outputs submitted: the manager asks the user
        ToolCallsReply([ScriptedToolCall("submit_outputs", {"city": "Paris"})]),
    ], system="You manage")
    server.script_sequence([
        ToolCallsReply([ScriptedToolCall("ask_city", {"question": "which city?"})]),
        "Paris",
    ], system="You research")


def _no_script(server: FakeLlmServer) -> None:
    server.script("Summarize", "a doctor")


FIXTURES = {
    fixture.name: fixture
    for fixture in (
        Fixture(
            "branches", {"user": "who", "n": 0}, _branches_tools, _no_script, _branches_answer,
            outputs={"greeting": "Ada/green/6/#red,#blue", "summary": "a doctor"},
            before={"tick": 2, "lookup": 1, "stamp": 1, "count": 1, "apply_tag": 0, "greet": 0},
            after={"apply_tag": 2, "greet": 1},
            llm_before=1, llm_after=0,
        ),
        Fixture(
            "branches_partial", {"user": "who", "n": 0}, _branches_tools, _no_script,
            _branches_answer,
            outputs={"greeting": "Ada/green/6/#red,#blue", "summary": "a doctor"},
            before={"tick": 2, "lookup": 1, "stamp": 1, "count": 1, "apply_tag": 0, "greet": 0},
            after={"apply_tag": 2, "greet": 1},
            llm_before=1, llm_after=0, first=lambda request: request.kind == "input",
            config="branches",
        ),
        Fixture(
            "agent", {}, _agent_tools, _agent_script, _agent_answer,
            outputs={}, before={"get_price": 1, "place_order": 0}, after={"place_order": 1},
            llm_before=3, llm_after=1, last_message="Ordered tea for Paris.",
        ),
        Fixture(
            "team", {}, lambda calls: {}, _team_script,
            lambda request: {"city": "Paris"} if request.kind == "client_tool" else "yes",
            outputs={"city": "Paris"}, llm_before=4, llm_after=1,
            first=lambda request: request.kind == "client_tool",
        ),
    )
}


def runtime(fixture: Fixture, calls: Calls, server: FakeLlmServer, **options: Any
            ) -> loom.Runtime:
    return loom.Runtime(tools=fixture.tools(calls), llm={"url": server.url}, use_env=False,
                        **options)


def normalized(state: RunState) -> RunState:
    """The state as committed: no owner, fixed times."""
    state.owner = None
    state.created_at = state.updated_at = FIXED_TIME
    return state


def generate(fixture: Fixture, server: FakeLlmServer, calls: Calls | None = None) -> RunState:
    """Run the fixture's flow until it waits; its checkpoint, normalized."""
    store = MemoryStore()
    fixture.script(server)
    with runtime(fixture, calls or Calls(), server, store=store) as rt:
        result = rt.run(fixture.flow_path, fixture.inputs, run_id=fixture.run_id)
        if fixture.first is not None and result.status == "waiting":
            result = rt.resume(fixture.run_id, {r.id: fixture.answer(r) for r in result.pending
                                                if fixture.first(r)})
    if result.status != "waiting":
        raise AssertionError(f"fixture {fixture.name}: the run {result.status}: {result.error}")
    return normalized(store.load(fixture.run_id))


def main() -> None:
    for fixture in FIXTURES.values():
        with FakeLlmServer() as server:
            state = generate(fixture, server)
        fixture.checkpoint_path.write_text(state.to_json() + "\n")
        print(f"wrote {fixture.checkpoint_path} ({len(state.entries)} entries, "
              f"{len(state.pending)} pending)")


if __name__ == "__main__":
    main()
