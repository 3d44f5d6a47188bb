"""Runs that wait and resume: every kind of wait, waits in parallel branches, checkpoints.

Each test runs on the in-memory, SQLite and PostgreSQL stores (``any_store_backend``).
A run is resumed by a second Runtime on a new connection to the same store, as
another process would.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import pytest

import loom
from loom.errors import CheckpointError, RunNotFound
from loom.spec import (
    BranchingNode,
    CatchExceptionNode,
    ClientTool,
    EndNode,
    InputMessageNode,
    LlmNode,
    ParallelFlowNode,
    ParallelMapNode,
    ServerTool,
    StartNode,
    ToolNode,
)

from .conftest import Spy, linear_flow, llm_config, make_flow, prop, props, runtime, tool_node

INTS = {"type": "array", "items": {"type": "integer"}}
STRS = {"type": "array", "items": {"type": "string"}}


def ask(name: str, message: str, output: str) -> InputMessageNode:
    return InputMessageNode(name=name, message=message, outputs=[prop(output)])


def resume(backend: Any, tools: dict[str, Any], run_id: str,
           answers: dict[str, Any] | None = None, **options: Any) -> loom.RunResult:
    """Resume in a new Runtime on a new store connection (another process's view)."""
    return runtime(tools, store=backend.open(), **options).resume(run_id, answers)


# --- every kind of wait -----------------------------------------------------------------


def greeting_flow() -> Any:
    before = tool_node("lookup", props(user="string"), props(title="string"))
    question = ask("ask_name", "Hello {{title}}, your name?", "name")
    after = tool_node("greet", props(title="string", name="string"), props(greeting="string"))
    return linear_flow("main", before, question, after, inputs=props(user="string"),
                       outputs=props(greeting="string"))


def test_input_waits_and_resumes_with_the_result_of_an_uninterrupted_run(
    any_store_backend: Any,
) -> None:
    lookup, greet = Spy(lambda user: user.upper()), Spy(lambda title, name: f"{title} {name}")
    tools = {"lookup": lookup, "greet": greet}
    rt = runtime(tools, store=any_store_backend.open())
    result = rt.run(greeting_flow(), {"user": "dr"})
    assert result.status == "waiting" and result.run_id and result.outputs == {}
    [request] = result.pending
    assert request.to_dict() == {
        "id": request.id, "kind": "input", "node": "main > ask_name",
        "prompt": "Hello DR, your name?", "tool_call": None,
        "answer_schema": {"type": "string"},
    }
    assert result.messages == [
        {"role": "assistant", "content": "Hello DR, your name?", "node": "ask_name"}]
    assert greet.calls == []

    resumed = resume(any_store_backend, tools, result.run_id, {request.id: "Ada"})
    assert resumed.status == "finished", resumed.error
    assert resumed.outputs == {"greeting": "DR Ada"}
    assert resumed.messages == [
        {"role": "assistant", "content": "Hello DR, your name?", "node": "ask_name"},
        {"role": "user", "content": "Ada"},
    ]
    assert lookup.calls == [{"user": "dr"}]  # recorded before the wait, replayed after
    assert greet.calls == [{"title": "DR", "name": "Ada"}]

    # The same flow with the answer given up front (a FlowNode-free equivalent: the
    # answer fed by a tool) gives the same outputs: the resumed run is not different.
    direct = linear_flow("main", tool_node("lookup", props(user="string"), props(title="string")),
                         tool_node("name_of", [], props(name="string")),
                         tool_node("greet", props(title="string", name="string"),
                                   props(greeting="string")),
                         inputs=props(user="string"), outputs=props(greeting="string"))
    plain = runtime({**tools, "name_of": lambda: "Ada"}).run(direct, {"user": "dr"})
    assert plain.outputs == resumed.outputs


def as_async(spy: Spy) -> Any:
    async def tool(**kwargs: Any) -> Any:
        return spy(**kwargs)

    return tool


@pytest.mark.parametrize("path", ["async_tools", "listener", "checkpoint_nodes"])
def test_resuming_replays_recorded_steps_one_node_at_a_time(
    any_store_backend: Any, path: str
) -> None:
    # Sync tools of an unwatched run take the chained path (engine._Chain), which
    # replays the journal itself; these runs go node by node (engine._execute).
    lookup, greet = Spy(lambda user: user.upper()), Spy(lambda title, name: f"{title} {name}")
    tools: dict[str, Any] = {"lookup": lookup, "greet": greet}
    events: list[str] = []
    options: dict[str, Any] = {}
    if path == "async_tools":
        tools = {name: as_async(spy) for name, spy in (("lookup", lookup), ("greet", greet))}
    elif path == "listener":
        options["listeners"] = [lambda event: events.append(event.type)]
    else:
        options["checkpoint"] = "nodes"
    result = runtime(tools, store=any_store_backend.open(), **options).run(
        greeting_flow(), {"user": "dr"})
    assert result.status == "waiting" and lookup.calls == [{"user": "dr"}]
    events.clear()
    resumed = resume(any_store_backend, tools, result.run_id,
                     {result.pending[0].id: "Ada"}, **options)
    assert resumed.status == "finished", resumed.error
    assert resumed.outputs == {"greeting": "DR Ada"}
    assert lookup.calls == [{"user": "dr"}]  # replayed from the journal, not run again
    assert greet.calls == [{"title": "DR", "name": "Ada"}]
    assert resumed.messages == [
        {"role": "assistant", "content": "Hello DR, your name?", "node": "ask_name"},
        {"role": "user", "content": "Ada"},
    ]
    if path == "listener":
        assert events.count("tool_start") == 1  # greet's; lookup was replayed


def test_a_client_tool_waits_for_the_clients_result(any_store_backend: Any) -> None:
    pick = ToolNode(name="pick", tool=ClientTool(
        name="pick_color", inputs=props(hint="string"), outputs=props(color="string")))
    after = tool_node("paint", props(color="string"), props(done="string"))
    flow = linear_flow("main", pick, after, inputs=props(hint="string"),
                       outputs=props(color="string", done="string"))
    paint = Spy(lambda color: f"painted {color}")
    result = runtime({"paint": paint}, store=any_store_backend.open()).run(flow, {"hint": "warm"})
    assert result.status == "waiting"
    [request] = result.pending
    assert request.kind == "client_tool" and request.node == "main > pick"
    assert request.prompt is None
    assert request.tool_call == {"name": "pick_color", "arguments": {"hint": "warm"}}
    resumed = resume(any_store_backend, {"paint": paint}, result.run_id,
                     {request.id: {"color": "red"}})
    assert resumed.status == "finished", resumed.error
    assert resumed.outputs == {"color": "red", "done": "painted red"}
    assert paint.calls == [{"color": "red"}]


def confirm_flow(**default: Any) -> Any:
    risky = ToolNode(name="delete_step", tool=ServerTool(
        name="delete_files", inputs=props(path="string"), outputs=props(deleted="integer"),
        requires_confirmation=True))
    return linear_flow("main", risky, inputs=props(path="string"),
                       outputs=[prop("deleted", "integer", **default)])


def test_a_confirmed_tool_runs_once_after_yes(any_store_backend: Any) -> None:
    delete = Spy(3)
    result = runtime({"delete_files": delete}, store=any_store_backend.open()).run(
        confirm_flow(), {"path": "/tmp/x"})
    assert result.status == "waiting" and delete.calls == []  # asks before it runs
    [request] = result.pending
    assert request.kind == "confirmation" and request.node == "main > delete_step"
    assert request.tool_call == {"name": "delete_files", "arguments": {"path": "/tmp/x"}}
    assert "delete_files" in (request.prompt or "")
    resumed = resume(any_store_backend, {"delete_files": delete}, result.run_id,
                     {request.id: True})
    assert resumed.status == "finished", resumed.error
    assert resumed.outputs == {"deleted": 3}
    assert delete.calls == [{"path": "/tmp/x"}]


def test_a_refused_tool_is_an_error_naming_the_node(any_store_backend: Any) -> None:
    delete = Spy(3)
    result = runtime({"delete_files": delete}, store=any_store_backend.open()).run(
        confirm_flow(), {"path": "/tmp/x"})
    resumed = resume(any_store_backend, {"delete_files": delete}, result.run_id,
                     {result.pending[0].id: False})
    assert resumed.status == "failed" and resumed.error is not None
    assert resumed.error.node == "main > delete_step"
    assert "running tool 'delete_files' was refused" in resumed.error.message
    assert delete.calls == []


def test_a_refusal_can_be_caught_by_a_catch_exception_node(
    any_store_backend: Any,
) -> None:
    guard = CatchExceptionNode(name="guard", subflow=confirm_flow(default=-1))
    end_ok = EndNode(name="end_ok", inputs=[prop("deleted", "integer", default=-1)])
    end_caught = EndNode(name="end_caught", branch_name="refused",
                         inputs=[prop("deleted", "integer", default=-1)])
    start = StartNode(name="start", inputs=props(path="string"))
    flow = make_flow("outer", [start, guard, end_ok, end_caught],
                     [(start, guard), (guard, end_ok, "next"),
                      (guard, end_caught, "caught_exception_branch")])
    delete = Spy(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", loom.LoomWarning)
        result = runtime({"delete_files": delete}, store=any_store_backend.open()).run(
            flow, {"path": "/tmp/x"})
        assert result.status == "waiting"
        resumed = resume(any_store_backend, {"delete_files": delete}, result.run_id,
                         {result.pending[0].id: "no"})
    assert resumed.status == "finished", resumed.error
    assert resumed.branch == "refused" and delete.calls == []


# --- waits in parallel branches -----------------------------------------------------------


def fan_flow() -> Any:
    asks_a = linear_flow("branch_a", ask("ask_a", "A?", "a"), outputs=props(a="string"))
    asks_b = linear_flow("branch_b", ToolNode(name="client_b", tool=ClientTool(
        name="fetch_b", outputs=props(b="string"))), outputs=props(b="string"))
    works = linear_flow("branch_work", tool_node("work", [], props(w="integer")),
                        outputs=props(w="integer"))
    fan = ParallelFlowNode(name="fan", subflows=[asks_a, asks_b, works])
    combine = tool_node("combine", props(a="string", b="string", w="integer"),
                        props(all="string"))
    return linear_flow("main", fan, combine, outputs=props(all="string"))


@pytest.mark.parametrize("order", ["a_then_b", "b_then_a", "both_at_once"])
def test_two_branches_wait_at_once_and_resume_in_any_order(
    any_store_backend: Any, order: str
) -> None:
    work, combine = Spy(7), Spy(lambda a, b, w: f"{a}-{b}-{w}")
    tools = {"work": work, "combine": combine}
    result = runtime(tools, store=any_store_backend.open()).run(fan_flow())
    assert result.status == "waiting"
    # Every waiting branch reports, in branch order; the sibling that needs nothing ran.
    assert [(r.kind, r.node) for r in result.pending] == [
        ("input", "main > fan > branch_a > ask_a"),
        ("client_tool", "main > fan > branch_b > client_b"),
    ]
    assert work.calls == [{}] and combine.calls == []
    req_a, req_b = result.pending
    answers = {req_a.id: "x", req_b.id: {"b": "y"}}
    steps = {"a_then_b": [[req_a.id], [req_b.id]], "b_then_a": [[req_b.id], [req_a.id]],
             "both_at_once": [[req_a.id, req_b.id]]}[order]
    for index, ids in enumerate(steps):
        result = resume(any_store_backend, tools, result.run_id, {i: answers[i] for i in ids})
        if index < len(steps) - 1:
            # Only the answered branch went on; the other still waits, alone.
            assert result.status == "waiting"
            assert [r.id for r in result.pending] == [i for i in (req_a.id, req_b.id)
                                                      if i not in ids]
            assert combine.calls == []
    assert result.status == "finished", result.error
    assert result.outputs == {"all": "x-y-7"}
    assert work.calls == [{}]  # the sibling's tool ran once, before the first wait
    assert combine.calls == [{"a": "x", "b": "y", "w": 7}]


def map_flow() -> Any:
    """Each item is prepared by a tool; only item 2 asks a question."""
    start = StartNode(name="start", inputs=[prop("value", "integer")])
    prep = tool_node("prep", [prop("value", "integer")], [prop("label")])
    route = BranchingNode(name="route", mapping={"2": "ask"}, inputs=[prop("value")])
    question = ask("ask", "About {{label}}?", "answer")
    end_asked = EndNode(name="end_asked", inputs=[prop("answer", default="-")])
    end_skipped = EndNode(name="end_skipped", inputs=[prop("answer", default="-")])
    sub = make_flow("item", [start, prep, route, question, end_asked, end_skipped],
                    [(start, prep), (prep, route), (route, question, "ask"),
                     (route, end_skipped, "default"), (question, end_asked)],
                    [(start, "value", prep, "value"), (start, "value", route, "value"),
                     (prep, "label", question, "label"), (question, "answer", end_asked)],
                    outputs=[prop("answer", default="-")])
    each = ParallelMapNode(name="each", subflow=sub)
    return linear_flow("main", each, inputs=[prop("iterated_value", INTS)],
                       outputs=each.outputs or [])


def test_a_parallel_map_branch_waits_alone(any_store_backend: Any) -> None:
    prep = Spy(lambda value: f"item {value}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", loom.LoomWarning)
        flow = map_flow()
    result = runtime({"prep": prep}, store=any_store_backend.open()).run(
        flow, {"iterated_value": [1, 2, 3]})
    assert result.status == "waiting"
    [request] = result.pending
    assert request.node == "main > each > item[1] > ask"
    assert request.prompt == "About item 2?"
    assert sorted(prep.values("value")) == [1, 2, 3]  # the siblings ran to the end
    resumed = resume(any_store_backend, {"prep": prep}, result.run_id, {request.id: "yes"})
    assert resumed.status == "finished", resumed.error
    assert resumed.outputs == {"collected_answer": ["-", "yes", "-"]}
    assert len(prep.calls) == 3  # nothing ran twice


# --- bad answers, finished runs, run ids --------------------------------------------------


def test_an_unknown_request_id_is_refused_and_the_run_still_waits(
    any_store_backend: Any,
) -> None:
    tools = {"lookup": lambda user: user.upper(), "greet": lambda title, name: name}
    result = runtime(tools, store=any_store_backend.open()).run(greeting_flow(), {"user": "x"})
    with pytest.raises(CheckpointError) as caught:
        resume(any_store_backend, tools, result.run_id, {"nope": "Ada"})
    assert f"run '{result.run_id}' has no pending request 'nope'" in str(caught.value)
    assert result.pending[0].id in str(caught.value)  # the hint lists the real ones
    again = resume(any_store_backend, tools, result.run_id, {result.pending[0].id: "Ada"})
    assert again.status == "finished"  # the refusal released the run


def test_a_finished_run_cannot_be_resumed(any_store_backend: Any) -> None:
    tools = {"lookup": lambda user: user.upper(), "greet": lambda title, name: name}
    result = runtime(tools, store=any_store_backend.open()).run(greeting_flow(), {"user": "x"})
    done = resume(any_store_backend, tools, result.run_id, {result.pending[0].id: "Ada"})
    assert done.status == "finished"
    with pytest.raises(CheckpointError) as caught:
        resume(any_store_backend, tools, result.run_id, {result.pending[0].id: "Ada"})
    if any_store_backend.kind == "memory":
        assert isinstance(caught.value, RunNotFound)  # the in-memory store forgets it
    else:
        assert "already finished; there is nothing to resume" in str(caught.value)
        assert any_store_backend.open().load(result.run_id).outputs == {"greeting": "Ada"}


def test_a_run_that_never_waits_leaves_nothing_in_the_store(
    any_store_backend: Any,
) -> None:
    flow = linear_flow("main", tool_node("t", [], props(x="integer")), outputs=props(x="integer"))
    store = any_store_backend.open()
    assert runtime({"t": lambda: 1}, store=store).run(flow).status == "finished"
    assert store.list() == []


def test_a_run_id_already_in_the_store_is_refused(any_store_backend: Any) -> None:
    tools = {"lookup": lambda user: user.upper(), "greet": lambda title, name: name}
    rt = runtime(tools, store=any_store_backend.open())
    assert rt.run(greeting_flow(), {"user": "x"}, run_id="order-42").run_id == "order-42"
    with pytest.raises(CheckpointError) as caught:
        rt.run(greeting_flow(), {"user": "y"}, run_id="order-42")
    assert "a run with id 'order-42' is already in the store" in str(caught.value)
    assert any_store_backend.open().load("order-42").inputs == {"user": "x"}


# --- checkpoints after every node ------------------------------------------------------


def test_checkpoints_after_every_node_hold_the_owner_and_refuse_a_second_runner(
    any_store_backend: Any,
) -> None:
    seen: dict[str, Any] = {}
    other = any_store_backend.open()

    def second(x: int) -> int:
        state = other.load("r1")  # the checkpoint written after the first node
        seen["status"], seen["owner"] = state.status, state.owner
        seen["steps"] = sorted(state.entries)
        with pytest.raises(CheckpointError) as caught:
            other.claim("r1", "elsewhere:1:x")
        seen["refusal"] = str(caught.value)
        return x + 1

    flow = linear_flow("main", tool_node("first", props(x="integer"), props(x="integer")),
                       tool_node("second", props(x="integer"), props(x="integer")),
                       inputs=props(x="integer"), outputs=props(x="integer"))
    rt = runtime({"first": lambda x: x * 10, "second": second},
                 store=any_store_backend.open(), checkpoint="nodes")
    result = rt.run(flow, {"x": 1}, run_id="r1")
    assert result.status == "finished" and result.outputs == {"x": 11}
    assert seen["status"] == "running"
    assert seen["owner"].split(":")[1] == str(os.getpid())
    assert seen["steps"] == ["main>first#1"]
    assert "run 'r1' is held by process" in seen["refusal"]
    assert "still running it" in seen["refusal"]
    if any_store_backend.kind != "memory":  # a persistent store keeps how it ended
        [summary] = other.list()
        assert (summary.status, summary.owner) == ("finished", None)


def test_checkpoints_from_many_parallel_branches_are_written_in_order(
    any_store_backend: Any,
) -> None:
    subflows = [linear_flow(f"b{i}", tool_node(f"t{i}", [], [prop(f"o{i}", "integer")]),
                            outputs=[prop(f"o{i}", "integer")]) for i in range(12)]
    fan = ParallelFlowNode(name="fan", subflows=subflows)
    flow = linear_flow("main", fan, ask("ask", "go?", "go"),
                       outputs=[prop(f"o{i}", "integer") for i in range(12)])
    tools = {f"t{i}": (lambda i=i: i) for i in range(12)}
    result = runtime(tools, store=any_store_backend.open(), checkpoint="nodes").run(flow)
    assert result.status == "waiting"
    state = any_store_backend.open().load(result.run_id)
    assert state.status == "waiting" and len(state.entries) == 12  # the last write won
    resumed = resume(any_store_backend, tools, result.run_id, {result.pending[0].id: "y"})
    assert resumed.outputs == {f"o{i}": i for i in range(12)}


def test_checkpoints_keep_no_secrets_and_resuming_needs_the_registry(
    any_store_backend: Any, fake_llm: Any,
) -> None:
    config = llm_config(fake_llm, api_key="sk-very-secret")
    flow = linear_flow("main", ask("ask", "Topic?", "topic"),
                       LlmNode(name="write", llm_config=config,
                               prompt_template="Write about {{topic}}"),
                       outputs=props(generated_text="string"))
    result = runtime({}, store=any_store_backend.open()).run(flow)
    assert result.status == "waiting"
    text = any_store_backend.open().load(result.run_id).to_json()
    assert "sk-very-secret" not in text
    answer = {result.pending[0].id: "tents"}
    with pytest.raises(loom.LoomError) as caught:
        resume(any_store_backend, {}, result.run_id, answer)
    assert f"{config.id}.api_key" in str(caught.value)  # names what to provide
    done = resume(any_store_backend, {}, result.run_id, answer,
                  registry={f"{config.id}.api_key": "sk-very-secret"})
    assert done.status == "finished", done.error
    assert fake_llm.recorded[-1].headers.get("authorization") == "Bearer sk-very-secret"
    assert json.loads(json.dumps(done.outputs))["generated_text"]
