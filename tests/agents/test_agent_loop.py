"""The Agent loop over real HTTP: tools, parallel calls, errors, bounds, outputs."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from loom.errors import PlanError
from loom.spec.tools import BuiltinTool
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply

from .conftest import (
    Recorder,
    make_agent,
    prop,
    props,
    runtime,
    server_tool,
    slow_cancellable_tool,
    system_prompt,
    tool_messages,
    tool_names,
)


def autonomous(server: FakeLlmServer, **extra: Any) -> Any:
    extra.setdefault("human_in_the_loop", False)
    return make_agent(server, **extra)


def call(name: str, **arguments: Any) -> ScriptedToolCall:
    return ScriptedToolCall(name, arguments)


def test_a_server_tool_runs_and_its_result_goes_back_to_the_model(fake_llm: FakeLlmServer
                                                                  ) -> None:
    mul = server_tool("multiply", props(a="integer", b="integer"), props(product="integer"),
                      description="Multiplies two integers")
    agent = autonomous(fake_llm, prompt="You help {{user}} with math.", tools=[mul],
                       inputs=[prop("user")])
    fake_llm.script_sequence([ToolCallsReply([call("multiply", a=6, b=7)]), "It is 42."])
    seen: list[dict[str, Any]] = []
    result = runtime({"multiply": lambda a, b: seen.append({"a": a, "b": b}) or a * b}).run(
        agent, {"user": "Ada"})
    assert result.status == "finished", result.error
    assert seen == [{"a": 6, "b": 7}]
    first, second = fake_llm.requests
    assert system_prompt(first) == "You help Ada with math."
    [definition] = first["tools"]
    assert definition["function"]["name"] == "multiply"
    assert definition["function"]["description"] == "Multiplies two integers"
    assert definition["function"]["parameters"]["required"] == ["a", "b"]
    assert tool_messages(second) == ["42"]
    assert [m["role"] for m in result.messages] == ["assistant", "tool", "assistant"]
    assert result.messages[-1]["content"] == "It is 42."


def test_an_agent_input_outside_its_enum_fails_before_the_model_is_asked(
        fake_llm: FakeLlmServer) -> None:
    level = prop("level", {"type": "string", "enum": ["easy", "hard"]})
    agent = autonomous(fake_llm, prompt="Quiz at {{level}}.", inputs=[level])
    result = runtime().run(agent, {"level": "medium"})
    assert result.status == "failed" and result.error is not None
    assert result.error.message == \
        "flow input 'level' is 'medium', not one of ['easy', 'hard']"
    assert fake_llm.requests == []


def test_parallel_tool_calls_of_one_answer_overlap_in_time(fake_llm: FakeLlmServer) -> None:
    recorder = Recorder()
    tools = {"slow_sync": recorder.sync_tool("slow_sync", 0.3, "s"),
             "slow_async": recorder.async_tool("slow_async", 0.3, "a")}
    agent = autonomous(fake_llm, tools=[server_tool(name, [], props(out="string"))
                                        for name in tools])
    fake_llm.script_sequence([
        ToolCallsReply([call("slow_sync"), call("slow_async"), call("slow_sync")]), "done"])
    result = runtime(tools).run(agent)
    assert result.status == "finished", result.error
    spans = recorder.spans
    assert len(spans) == 3
    latest_start = max(span.start for span in spans)
    earliest_end = min(span.end or 0 for span in spans)
    assert latest_start < earliest_end  # all three were running at the same moment
    assert tool_messages(fake_llm.requests[-1]) == ["s", "a", "s"]  # in call order


def test_a_tool_error_goes_back_to_the_model_and_the_agent_goes_on(fake_llm: FakeLlmServer
                                                                   ) -> None:
    def lookup(key: str) -> str:
        raise KeyError(f"no entry {key}")

    agent = autonomous(fake_llm, tools=[server_tool("lookup", props(key="string"),
                                                    props(value="string"))])
    fake_llm.script_sequence([ToolCallsReply([call("lookup", key="x")]), "Sorry, not found."])
    result = runtime({"lookup": lookup}).run(agent)
    assert result.status == "finished", result.error
    [error] = tool_messages(fake_llm.requests[-1])
    assert error.startswith("error: KeyError") and "no entry x" in error


def test_tool_errors_fail_the_run_when_the_agent_says_so(fake_llm: FakeLlmServer) -> None:
    def lookup(key: str) -> str:
        raise KeyError("nope")

    agent = autonomous(fake_llm, name="strict", metadata={"loom": {"tool_errors": "raise"}},
                       tools=[server_tool("lookup", props(key="string"), props(v="string"))])
    fake_llm.script_sequence([ToolCallsReply([call("lookup", key="x")]), "unreachable"])
    result = runtime({"lookup": lookup}).run(agent)
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "strict"
    assert "tool 'lookup' failed: KeyError" in result.error.message


@pytest.mark.timeout(10)
async def test_a_failing_call_cancels_its_sibling_calls_and_awaits_them(
    fake_llm: FakeLlmServer,
) -> None:
    # tool_errors=raise: the first call fails the run at once; the slow calls of the
    # same answer are cancelled (not left to finish) and have cleaned up by the
    # time arun returns.
    events: list[str] = []

    def lookup(key: str) -> str:
        time.sleep(0.05)
        raise KeyError("nope")

    slow = slow_cancellable_tool(events)

    tools = [server_tool(name, props(key="string"), props(v="string"))
             for name in ("lookup", "slow")]
    agent = autonomous(fake_llm, name="strict", metadata={"loom": {"tool_errors": "raise"}},
                       tools=tools)
    fake_llm.script_sequence([ToolCallsReply([call("slow", key="a"), call("lookup", key="x"),
                                              call("slow", key="b")]), "unreachable"])
    result = await runtime({"lookup": lookup, "slow": slow}).arun(agent)
    assert result.status == "failed" and result.error is not None
    assert "tool 'lookup' failed: KeyError" in result.error.message
    assert sorted(events) == ["cancelled a", "cancelled b", "cleaned a", "cleaned b",
                              "start a", "start b"]
    assert len(fake_llm.requests) == 1


def test_bad_calls_are_explained_to_the_model(fake_llm: FakeLlmServer) -> None:
    add = server_tool("add", props(a="integer", b="integer"), props(sum="integer"))
    agent = autonomous(fake_llm, tools=[add])
    fake_llm.script_sequence([
        ToolCallsReply([call("nope"), ScriptedToolCall("add", "{not json"),
                        call("add", a="x", b=1), call("add", a=1), call("add", a=1, b=2, c=3)]),
        "ok"])
    result = runtime({"add": lambda a, b: a + b}).run(agent)
    assert result.status == "finished", result.error
    unknown, bad_json, bad_type, missing, extra = tool_messages(fake_llm.requests[-1])
    assert "no tool named 'nope'" in unknown and "add" in unknown
    assert "not valid JSON" in bad_json
    assert "argument 'a' must be integer" in bad_type
    assert "missing argument 'b'" in missing
    assert "unknown argument(s) ['c']" in extra


def test_the_iteration_bound_stops_an_agent_that_never_finishes(fake_llm: FakeLlmServer) -> None:
    agent = autonomous(fake_llm, name="looper", metadata={"loom": {"max_iterations": 3}},
                       tools=[server_tool("ping", [], props(pong="string"))])
    fake_llm.script(None, ToolCallsReply([call("ping")]))
    result = runtime({"ping": lambda: "pong"}).run(agent)
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "looper"
    assert "reached its limit of 3 LLM calls" in result.error.message
    assert "max_iterations" in result.error.message
    assert len(fake_llm.requests) == 3


def test_the_runtime_sets_the_default_iteration_bound(fake_llm: FakeLlmServer) -> None:
    agent = autonomous(fake_llm, tools=[server_tool("ping", [], props(pong="string"))])
    fake_llm.script(None, ToolCallsReply([call("ping")]))
    result = runtime({"ping": lambda: "pong"}, max_iterations=2).run(agent)
    assert result.status == "failed" and "limit of 2 LLM calls" in (result.error.message
                                                                      if result.error else "")


def test_declared_outputs_are_submitted_through_a_checked_tool(fake_llm: FakeLlmServer) -> None:
    agent = autonomous(fake_llm, outputs=[prop("city"), prop("population", "integer"),
                                          prop("note", "string", default="none")])
    fake_llm.script_sequence([
        ToolCallsReply([call("submit_outputs", city="Paris", population="many")]),
        ToolCallsReply([call("submit_outputs", city="Paris", population=2_100_000)]),
    ])
    result = runtime().run(agent)
    assert result.status == "finished", result.error
    assert result.outputs == {"city": "Paris", "population": 2_100_000, "note": "none"}
    first, second = fake_llm.requests
    submit = next(t for t in first["tools"] if t["function"]["name"] == "submit_outputs")
    assert submit["function"]["parameters"]["required"] == ["city", "population"]
    [problem] = tool_messages(second)
    assert "argument 'population' must be integer" in problem


def test_an_autonomous_agent_that_forgets_to_submit_is_asked_for_json(fake_llm: FakeLlmServer
                                                                      ) -> None:
    agent = autonomous(fake_llm, outputs=[prop("answer", "integer")])
    fake_llm.script(lambda text: "JSON" in text, {"answer": 42})
    fake_llm.script(None, "The answer is 42")  # plain text, no submit_outputs call
    result = runtime().run(agent)
    assert result.status == "finished", result.error
    assert result.outputs == {"answer": 42}
    fallback = fake_llm.requests[-1]
    assert "tools" not in fallback
    assert fallback["response_format"]["json_schema"]["schema"]["required"] == ["answer"]


def test_tool_names_the_api_refuses_are_rewritten_and_both_names_work(
        fake_llm: FakeLlmServer) -> None:
    checker = server_tool("Symptoms checker", props(symptoms="string"), props(found="string"))
    agent = autonomous(fake_llm, tools=[checker])
    fake_llm.script_sequence([
        ToolCallsReply([call("Symptoms_checker", symptoms="cough"),
                        call("Symptoms checker", symptoms="fever")]), "ok"])
    result = runtime({"Symptoms checker": lambda symptoms: f"cold ({symptoms})"}).run(agent)
    assert result.status == "finished", result.error
    assert tool_names(fake_llm.requests[0]) == ["Symptoms_checker"]
    assert tool_messages(fake_llm.requests[-1]) == ["cold (cough)", "cold (fever)"]


def test_a_server_tool_without_implementation_is_a_plan_error(fake_llm: FakeLlmServer) -> None:
    agent = autonomous(fake_llm, name="needy", tools=[server_tool("missing")])
    with pytest.raises(PlanError, match="ServerTool 'missing' .*agent 'needy'"):
        runtime().run(agent)


def test_a_builtin_tool_is_a_plan_error_before_the_model_is_asked(
        fake_llm: FakeLlmServer) -> None:
    builtin = BuiltinTool(name="code_interpreter", tool_type="code")
    agent = autonomous(fake_llm, name="coder", tools=[builtin])
    with pytest.raises(PlanError, match="BuiltinTool 'code_interpreter' .*cannot run in loom"):
        runtime().run(agent)
    assert fake_llm.requests == []


def test_tokens_and_tool_calls_reach_listeners_as_they_happen(fake_llm: FakeLlmServer) -> None:
    events: list[Any] = []
    agent = autonomous(fake_llm, tools=[server_tool("ping", [], props(pong="string"))])
    fake_llm.script_sequence([ToolCallsReply([call("ping")]), "all good here"])
    result = runtime({"ping": lambda: "pong"}, listeners=[events.append]).run(agent)
    assert result.status == "finished", result.error
    kinds = [event.type for event in events]
    assert kinds.index("tool_start") < kinds.index("tool_end") < kinds.index("llm_token")
    assert "".join(e.data["token"] for e in events if e.type == "llm_token") == "all good here"
    assert "agent_start" in kinds and "agent_end" in kinds
    assert all(body.get("stream") for body in fake_llm.requests)  # streamed to listeners


def test_a_result_that_breaks_the_declared_outputs_is_an_error_for_the_model(
        fake_llm: FakeLlmServer) -> None:
    agent = autonomous(fake_llm, tools=[server_tool("count", [], props(n="integer"))])
    fake_llm.script_sequence([ToolCallsReply([call("count")]), "ok"])
    result = runtime({"count": lambda: "many"}).run(agent)
    assert result.status == "finished", result.error
    [message] = tool_messages(fake_llm.requests[-1])
    assert message.startswith("error:") and "declared integer" in message


def test_several_outputs_of_a_tool_reach_the_model_as_json(fake_llm: FakeLlmServer) -> None:
    agent = autonomous(fake_llm, tools=[server_tool("weather", [], props(t="number", sky="string"))])
    fake_llm.script_sequence([ToolCallsReply([call("weather")]), "ok"])
    result = runtime({"weather": lambda: {"t": 21.5, "sky": "clear"}}).run(agent)
    assert result.status == "finished", result.error
    [message] = tool_messages(fake_llm.requests[-1])
    assert json.loads(message) == {"t": 21.5, "sky": "clear"}
