"""One scenario suite, run on the local backend and on Temporal: the same results.

Each test runs its scenario on ``kind``; on Temporal it also runs it locally and
asserts the two results are equal, that each tool ran exactly as often, and that
the run's history replays deterministically.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

import loom
from loom.spec import (
    Agent,
    ApiNode,
    CatchExceptionNode,
    EndNode,
    ParallelFlowNode,
    RemoteTool,
    StartNode,
    ToolNode,
)
from loom.spec.llms import OpenAiCompatibleConfig
from loom.spec.nodes import InputMessageNode, MapNode
from loom.temporal import connect
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply
from runtime.conftest import (
    FAST_RETRY,
    linear_flow,
    make_flow,
    prop,
    props,
    serve_app,
    server_tool,
    tool_node,
    tool_subflow,
)
from temporal.backends import BACKENDS, backend, replay

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "parallel_marketing"
INTS = {"type": "array", "items": {"type": "integer"}}

pytestmark = pytest.mark.timeout(120)


class Counted:
    """Tools that count their calls (by name) in the process that runs them."""

    def __init__(self, **tools: Callable[..., Any]) -> None:
        self.calls: Counter[str] = Counter()
        self.tools = {name: self._counted(name, fn) for name, fn in tools.items()}

    def _counted(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def tool(**arguments: Any) -> Any:
            self.calls[name] += 1
            return fn(**arguments)

        return tool


async def same_on_both(
    kind: str, server: str, queue: str, make_tools: Callable[[], Counted], flow: Any,
    inputs: dict[str, Any] | None = None, answers: list[Callable[[loom.RunResult], dict]] = (),
    llm: FakeLlmServer | None = None, script: Callable[[], None] | None = None,
    same_calls: bool = True,
) -> tuple[loom.RunResult, Counted]:
    """Run ``flow`` on ``kind`` (answering each wait with the next of ``answers``); on
    Temporal, also locally, and assert both give the same result and tool calls."""
    outcomes = []
    for which in (["local", kind] if kind != "local" else ["local"]):
        counted = make_tools()
        if script is not None:
            script()
        async with backend(which, server, queue, counted.tools,
                           llm_url=llm.url if llm else None) as runtime:
            result = await runtime.arun(flow, inputs or {})
            for answer in answers:
                assert result.status == "waiting", result.error
                result = await runtime.aresume(result.run_id, answer(result))
            if which == "temporal":  # its history replays to the same commands
                await replay(server, result.run_id)
        outcomes.append((result, counted))
    (local, local_calls), (last, last_calls) = outcomes[0], outcomes[-1]
    view = last.to_dict()
    view.pop("run_id", None)
    expected = local.to_dict()
    expected.pop("run_id", None)
    assert view == expected
    assert last.branch == local.branch
    if same_calls:  # not where a failure cancels siblings that may have started
        assert last_calls.calls == local_calls.calls
    return last, last_calls


def example_tools() -> Counted:
    spec = importlib.util.spec_from_file_location("marketing_tools", EXAMPLE / "tools.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = ("get_current_time", "get_user_information", "get_user_last_purchases",
             "get_items_on_sale")
    return Counted(**{name: getattr(module, name) for name in names})


@pytest.mark.parametrize("kind", BACKENDS)
async def test_seed_flow(kind, temporal_server, task_queue, monkeypatch, llm_server) -> None:
    monkeypatch.setenv("LOOM_EXAMPLE_TOOL_DELAY", "0")
    result, counted = await same_on_both(
        kind, temporal_server, task_queue, example_tools, loom.load(EXAMPLE / "flow.json"),
        {"username": "alice"}, llm=llm_server)
    assert result.status == "finished", result.error
    assert result.outputs
    assert set(counted.calls.values()) == {1} and len(counted.calls) == 4


def nested_fan(width: int = 2, name: str = "outer") -> Any:
    """``width`` branches of a ParallelFlowNode, each a ParallelFlowNode of three tools."""
    branches = []
    for b in range(width):
        leaves = [tool_subflow(f"leaf_{b}{i}", "work", [], [prop(f"out_{b}{i}", "integer")])
                  for i in range(3)]
        inner = ParallelFlowNode(name=f"inner_{b}", subflows=leaves)
        branches.append(linear_flow(f"branch_{b}", inner, outputs=inner.outputs or []))
    outer = ParallelFlowNode(name=name, subflows=branches)
    return linear_flow("main", outer, outputs=outer.outputs or [])


@pytest.mark.parametrize("kind", BACKENDS)
async def test_nested_parallel_flow_nodes(kind, temporal_server, task_queue) -> None:
    result, counted = await same_on_both(
        kind, temporal_server, task_queue, lambda: Counted(work=lambda: 7), nested_fan())
    assert result.status == "finished", result.error
    assert result.outputs == {f"out_{b}{i}": 7 for b in range(2) for i in range(3)}
    assert counted.calls == {"work": 6}


@pytest.mark.parametrize("kind", BACKENDS)
async def test_map_node_over_a_thousand_items(kind, temporal_server, task_queue) -> None:
    sub = tool_subflow("scale", "scale", [prop("value", "integer")], [prop("scaled", "integer")])
    node = MapNode(name="each", subflow=sub)
    flow = linear_flow("main", node, inputs=[prop("iterated_value", INTS)],
                       outputs=node.outputs or [])
    result, counted = await same_on_both(
        kind, temporal_server, task_queue, lambda: Counted(scale=lambda value: value * 3),
        flow, {"iterated_value": list(range(1000))})
    assert result.status == "finished", result.error
    assert result.outputs == {"collected_scaled": [3 * i for i in range(1000)]}
    assert counted.calls == {"scale": 1000}


def risky(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative input {x}")
    return x * 2


def failing_fan(caught: bool) -> Any:
    """Two branches, the first of which fails; ``caught``: inside a CatchExceptionNode."""
    branches = [tool_subflow(f"b{i}", tool, props(x="integer"), [prop(f"y{i}", "integer")],
                             node_name=f"{tool}_{i}") for i, tool in enumerate(("risky", "fine"))]
    fan = ParallelFlowNode(name="fan", subflows=branches)
    if not caught:
        return linear_flow("main", fan, inputs=props(x="integer"), outputs=fan.outputs or [])
    inner = linear_flow("guarded", fan, inputs=props(x="integer"),
                        outputs=[prop("y0", "integer", default=-1)])
    guard = CatchExceptionNode(name="guard", subflow=inner)
    info = [prop("caught_exception_info", {"anyOf": [{"type": "string"}, {"type": "null"}]})]
    start, end = StartNode(name="start", inputs=props(x="integer")), EndNode(name="end",
                                                                             inputs=info)
    return make_flow("main", [start, guard, end],
                     [(start, guard), (guard, end, "next"), (guard, end,
                                                             "caught_exception_branch")],
                     outputs=info)


@pytest.mark.parametrize("caught", [False, True], ids=["uncaught", "caught"])
@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_failing_branch(kind, caught, temporal_server, task_queue) -> None:
    result, _ = await same_on_both(
        kind, temporal_server, task_queue, lambda: Counted(risky=risky, fine=lambda x: x), failing_fan(caught),
        {"x": -1}, same_calls=False)
    if caught:
        assert result.status == "finished", result.error
        assert result.outputs["caught_exception_info"] == (
            "tool 'risky' raised ValueError: negative input -1 "
            "(in main > guard > guarded > fan > b0 > risky_0)")
    else:
        assert result.status == "failed"
        assert result.error is not None and result.error.node == "main > fan > b0 > risky_0"
        assert "tool 'risky' raised ValueError: negative input -1" in result.error.message


def two_waits() -> Any:
    branches = []
    for i in range(2):
        ask = InputMessageNode(name=f"ask_{i}", message=f"question {i}?",
                               outputs=[prop(f"answer_{i}")])
        echo = tool_node("echo", [prop("text")], [prop(f"said_{i}")], name=f"echo_{i}")
        start, end = StartNode(name="start"), EndNode(name="end", inputs=[prop(f"said_{i}")])
        branches.append(make_flow(
            f"b{i}", [start, ask, echo, end], [(start, ask), (ask, echo), (echo, end)],
            [(ask, f"answer_{i}", echo, "text"), (echo, f"said_{i}", end)],
            outputs=[prop(f"said_{i}")]))
    fan = ParallelFlowNode(name="fan", subflows=branches)
    return linear_flow("main", fan, outputs=fan.outputs or [])


@pytest.mark.parametrize("kind", BACKENDS)
async def test_two_waits_in_parallel_branches_answered_in_two_calls(
    kind, temporal_server, task_queue
) -> None:
    def first(result: loom.RunResult) -> dict:
        assert sorted(r.prompt for r in result.pending) == ["question 0?", "question 1?"]
        return {result.pending[0].id: "one"}

    def second(result: loom.RunResult) -> dict:
        [request] = result.pending
        return {request.id: "two"}

    result, counted = await same_on_both(
        kind, temporal_server, task_queue, lambda: Counted(echo=lambda text: text.upper()),
        two_waits(), answers=[first, second])
    assert result.status == "finished", result.error
    assert result.outputs == {"said_0": "ONE", "said_1": "TWO"}
    assert counted.calls == {"echo": 2}


@pytest.mark.parametrize("kind", BACKENDS)
async def test_an_agent_with_tool_calls(kind, temporal_server, task_queue, llm_server) -> None:
    mul = server_tool("multiply", props(a="integer", b="integer"), props(product="integer"))
    config = OpenAiCompatibleConfig(name="fake", url=llm_server.url, model_id="fake-model",
                                    retry_policy=dict(FAST_RETRY))
    agent = Agent(name="helper", llm_config=config, system_prompt="You help.", tools=[mul],
                  human_in_the_loop=False)

    def script() -> None:
        llm_server.reset()
        llm_server.script_sequence([
            ToolCallsReply([ScriptedToolCall("multiply", {"a": 6, "b": 7}),
                            ScriptedToolCall("multiply", {"a": 2, "b": 3})]),
            "It is 42 and 6."])

    result, counted = await same_on_both(
        kind, temporal_server, task_queue, lambda: Counted(multiply=lambda a, b: a * b), agent,
        script=script, llm=llm_server)
    assert result.status == "finished", result.error
    assert [m["role"] for m in result.messages] == ["assistant", "tool", "tool", "assistant"]
    assert result.messages[-1]["content"] == "It is 42 and 6."
    assert counted.calls == {"multiply": 2}


def secret_flow(url: str = "http://127.0.0.1:9/v1") -> Any:
    config = OpenAiCompatibleConfig(name="keyed", url=url, model_id="m",
                                    api_key="sk-not-for-the-history")
    return Agent(name="helper", llm_config=config, system_prompt="You help.",
                 human_in_the_loop=False)


async def test_a_secret_comes_from_the_workers_registry_and_never_enters_the_history(
    temporal_server, task_queue, llm_server
) -> None:
    agent = secret_flow(llm_server.url)
    registry = {f"{agent.llm_config.id}.api_key": "sk-from-the-worker"}
    llm_server.reset()
    llm_server.script_sequence(["Hello."])
    async with backend("temporal", temporal_server, task_queue, {},
                       registry=registry) as runtime:
        result = await runtime.arun(agent, {})
    assert result.status == "finished", result.error
    assert result.messages[-1]["content"] == "Hello."
    [request] = llm_server.recorded
    assert request.headers["authorization"] == "Bearer sk-from-the-worker"
    history = await (await connect(temporal_server)).get_workflow_handle(
        result.run_id).fetch_history()
    text = history.to_json()
    assert "sk-not-for-the-history" not in text and "sk-from-the-worker" not in text


async def test_secrets_stay_out_of_the_history_and_a_missing_one_is_named(
    temporal_server, task_queue
) -> None:
    """The flow goes to Temporal without its secrets; a worker without them in its
    registry fails the run at once, naming the reference (never retried)."""
    async with backend("temporal", temporal_server, task_queue, {}) as runtime:
        with pytest.raises(loom.LoomError, match=r"api_key.*point at nothing|point at nothing"):
            await runtime.arun(secret_flow(), {})


@pytest.fixture(scope="module")
def http_app() -> Any:
    """Echoes a request's method, path, query and JSON body; /missing answers 404."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    seen: list[str] = []

    async def echo(request: Request) -> JSONResponse:
        seen.append(request.url.path)
        body = await request.json() if await request.body() else None
        return JSONResponse({"method": request.method, "item": request.path_params["item"],
                             "query": dict(request.query_params), "body": body})

    app = Starlette(routes=[Route("/items/{item}", echo, methods=["GET", "POST"])])
    with serve_app(app) as url:
        yield url, seen


@pytest.mark.parametrize("kind", BACKENDS)
async def test_api_node_and_remote_tool_requests(kind, temporal_server, task_queue,
                                                 http_app) -> None:
    url, seen = http_app
    api = ApiNode(name="call", http_method="POST", url=url + "/items/{{item}}",
                  query_params={"q": "{{item}}"}, data={"name": "{{item}}", "n": 3},
                  outputs=[prop("method"), prop("body", "object")])
    remote = RemoteTool(name="fetch", url=url + "/items/{{key}}", http_method="GET",
                        inputs=[prop("key")], outputs=[prop("item")])
    missing = ApiNode(name="lost", http_method="GET", url=url + "/nowhere/{{item}}",
                      retry_policy=dict(FAST_RETRY))
    flow = linear_flow("main", api, ToolNode(name="fetch_step", tool=remote),
                       inputs=[prop("item"), prop("key")],
                       outputs=[prop("method"), prop("body", "object"), prop("item")])
    seen.clear()
    result, _ = await same_on_both(kind, temporal_server, task_queue, Counted, flow,
                                   {"item": "7", "key": "k1"})
    assert result.status == "finished", result.error
    assert result.outputs["method"] == "POST"
    assert result.outputs["body"] == {"name": "7", "n": 3}
    assert json.loads(result.outputs["item"])["item"] == "k1"  # a string output: the text
    assert seen.count("/items/7") == seen.count("/items/k1") == (2 if kind == "temporal" else 1)
    failed, _ = await same_on_both(kind, temporal_server, task_queue, Counted,
                                   linear_flow("main", missing, inputs=[prop("item")]),
                                   {"item": "1"})
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.node == "main > lost" and "404" in failed.error.message


async def test_a_cancelled_run_ends_cancelled_and_no_catch_node_catches_it(
    temporal_server, task_queue
) -> None:
    started = asyncio.Event()

    async def slow() -> str:
        started.set()
        await asyncio.sleep(30)
        return "late"

    inner = linear_flow("inner", tool_node("slow", [], [prop("out")]),
                        outputs=[prop("out", default="-")])
    guard = CatchExceptionNode(name="guard", subflow=inner)
    start, end = StartNode(name="start"), EndNode(name="end")
    flow = make_flow("main", [start, guard, end],
                     [(start, guard), (guard, end, "next"),
                      (guard, end, "caught_exception_branch")])
    run_id = f"cancel-{task_queue}"
    async with backend("temporal", temporal_server, task_queue, {"slow": slow}) as runtime:
        run = asyncio.ensure_future(runtime.arun(flow, {}, run_id=run_id))
        await asyncio.wait_for(started.wait(), 30)
        await runtime.backend.acancel(run_id)
        with pytest.raises(loom.LoomError, match=f"run '{run_id}' was cancelled"):
            await asyncio.wait_for(run, 30)
        handle = (await connect(temporal_server)).get_workflow_handle(run_id)
        assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED


@pytest.mark.parametrize("kind", BACKENDS)
async def test_branches_keep_the_runs_concurrency_limit(kind, temporal_server, task_queue) -> None:
    """max_concurrency bounds the branches in flight on Temporal as locally: three branches
    of three nested branches each, at most two tool calls at a time."""
    now, most = [0], [0]

    async def work() -> int:
        now[0] += 1
        most[0] = max(most[0], now[0])
        await asyncio.sleep(0.1)
        now[0] -= 1
        return 1

    flow = nested_fan(width=3, name="fan")
    async with backend(kind, temporal_server, task_queue, {"work": work},
                       max_concurrency=2) as runtime:
        result = await runtime.arun(flow, {})
    assert result.status == "finished", result.error
    assert result.outputs == {f"out_{b}{i}": 1 for b in range(3) for i in range(3)}
    assert most[0] == 2
