"""An agent's message transforms over real HTTP: long messages and long
conversations are summarized by the transform's LLM before each request, the
summaries are cached and journaled, and the run's conversation is untouched."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.runtime.agents.transforms import SummaryCache, split_point
from loom.spec.datastores import InMemoryCollectionDatastore
from loom.spec.nodes import AgentNode, InputMessageNode
from loom.spec.transforms import (
    ConversationSummarizationTransform,
    MessageSummarizationTransform,
)
from loom.testing import FakeLlmServer, ScriptedToolCall, ToolCallsReply

from .conftest import llm_config, make_agent, runtime, server_tool, system_prompt
from .test_agent_node import chain

MESSAGE_INSTRUCTIONS = "Summarize this message."
CONVERSATION_INSTRUCTIONS = "Summarize this conversation."
AGENT_PROMPT = "You help."


def message_transform(server: FakeLlmServer, **extra: Any) -> MessageSummarizationTransform:
    return MessageSummarizationTransform(
        name="shorten", llm=llm_config(server, "summarizer"), max_message_size=100,
        summarization_instructions=MESSAGE_INSTRUCTIONS, **extra,
    )


def conversation_transform(server: FakeLlmServer,
                           **extra: Any) -> ConversationSummarizationTransform:
    return ConversationSummarizationTransform(
        name="condense", llm=llm_config(server, "summarizer"),
        summarization_instructions=CONVERSATION_INSTRUCTIONS, **extra,
    )


def answer(result: Any, text: str) -> dict[str, Any]:
    assert result.status == "waiting", result.error
    [request] = result.pending
    return {request.id: text}


def summary_requests(server: FakeLlmServer, instructions: str) -> list[dict[str, Any]]:
    return [body for body in server.requests if system_prompt(body) == instructions]


def agent_requests(server: FakeLlmServer) -> list[dict[str, Any]]:
    return [body for body in server.requests if system_prompt(body) == AGENT_PROMPT]


def roles(body: dict[str, Any]) -> list[str]:
    return [message["role"] for message in body["messages"]]


LONG = "The quarterly report: " + "revenue grew in every region. " * 10


def test_a_long_message_is_replaced_by_its_summary(fake_llm: FakeLlmServer) -> None:
    fake_llm.script(None, "revenue grew everywhere", system=MESSAGE_INSTRUCTIONS)
    fake_llm.script(None, "Noted.", system=AGENT_PROMPT)
    agent = make_agent(fake_llm, transforms=[message_transform(fake_llm)])
    run = runtime(llm={"url": fake_llm.url})
    started = run.run(agent)
    result = run.resume(started.run_id, answer(started, LONG))
    assert result.status == "waiting" and result.pending[0].prompt == "Noted."
    [asked] = summary_requests(fake_llm, MESSAGE_INSTRUCTIONS)
    assert asked["messages"][-1] == {"role": "user", "content": LONG}
    [request] = agent_requests(fake_llm)
    assert request["messages"][0] == {"role": "system", "content": AGENT_PROMPT}
    assert request["messages"][1]["content"] == "Summarized message: revenue grew everywhere"
    # The run's conversation keeps the message as the user wrote it.
    assert result.messages[0]["content"] == LONG


def test_short_messages_and_the_system_prompt_are_left_alone(fake_llm: FakeLlmServer) -> None:
    prompt = AGENT_PROMPT + " " + "Be precise. " * 20  # longer than max_message_size
    agent = make_agent(fake_llm, prompt=prompt, transforms=[message_transform(fake_llm)])
    run = runtime(llm={"url": fake_llm.url})
    started = run.run(agent)
    run.resume(started.run_id, answer(started, "hello"))
    [request] = fake_llm.requests  # no summary asked
    assert request["messages"] == [{"role": "system", "content": prompt},
                                   {"role": "user", "content": "hello"}]


def test_a_long_conversation_keeps_its_last_messages_and_tool_pairs(
    fake_llm: FakeLlmServer,
) -> None:
    fake_llm.script(None, "the user said go", system=CONVERSATION_INSTRUCTIONS)
    fake_llm.script_sequence(
        [ToolCallsReply([ScriptedToolCall("lookup", {"q": "x"})]), "done", "final"],
        system=AGENT_PROMPT,
    )
    transform = conversation_transform(fake_llm, max_num_messages=4, min_num_messages=3,
                                       summarized_conversation_template="Earlier: {{summary}}")
    agent = make_agent(fake_llm, tools=[server_tool("lookup", [], [])],
                       transforms=[transform])
    run = runtime({"lookup": lambda **_: "found"}, llm={"url": fake_llm.url})
    started = run.run(agent)
    first = run.resume(started.run_id, answer(started, "go"))
    assert first.pending[0].prompt == "done"
    assert summary_requests(fake_llm, CONVERSATION_INSTRUCTIONS) == []  # 3 messages: short
    second = run.resume(first.run_id, answer(first, "again"))
    assert second.pending[0].prompt == "final"
    [asked] = summary_requests(fake_llm, CONVERSATION_INSTRUCTIONS)
    assert asked["messages"][-1]["content"] == "user: go"
    last = agent_requests(fake_llm)[-1]
    # 5 messages, keep 3: the cut would fall between the tool call and its result,
    # so the call stays with the kept messages.
    assert roles(last) == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert last["messages"][1]["content"] == "Earlier: the user said go"
    assert last["messages"][2]["tool_calls"][0]["function"]["name"] == "lookup"
    assert last["messages"][-1]["content"] == "again"
    assert len(second.messages) == 6  # go, call, result, done, again, final


def test_conversation_by_characters(fake_llm: FakeLlmServer) -> None:
    fake_llm.script(None, "S", system=CONVERSATION_INSTRUCTIONS)
    fake_llm.script(None, "ok", system=AGENT_PROMPT)
    transform = conversation_transform(fake_llm, max_num_messages=None,
                                       max_num_characters=30, min_num_messages=1)
    agent = make_agent(fake_llm, transforms=[transform])
    run = runtime(llm={"url": fake_llm.url})
    started = run.run(agent)
    first = run.resume(started.run_id, answer(started, "a question of some length"))
    assert summary_requests(fake_llm, CONVERSATION_INSTRUCTIONS) == []  # 25 characters
    run.resume(first.run_id, answer(first, "and another one"))
    [asked] = summary_requests(fake_llm, CONVERSATION_INSTRUCTIONS)
    assert asked["messages"][-1]["content"] == "user: a question of some length\nassistant: ok"
    assert agent_requests(fake_llm)[-1]["messages"][1:] == [
        {"role": "user", "content": "Summarized conversation: S"},
        {"role": "user", "content": "and another one"},
    ]


def test_an_identical_long_message_is_summarized_once(fake_llm: FakeLlmServer) -> None:
    fake_llm.script(None, "short", system=MESSAGE_INSTRUCTIONS)
    fake_llm.script(None, "ok", system=AGENT_PROMPT)
    agent = make_agent(fake_llm, transforms=[message_transform(fake_llm)])
    run = runtime(llm={"url": fake_llm.url})
    started = run.run(agent)
    first = run.resume(started.run_id, answer(started, LONG))
    second = run.resume(first.run_id, answer(first, LONG))
    assert second.status == "waiting"
    assert len(summary_requests(fake_llm, MESSAGE_INSTRUCTIONS)) == 1
    last = agent_requests(fake_llm)[-1]
    assert [m["content"] for m in last["messages"] if m["role"] == "user"] == [
        "Summarized message: short", "Summarized message: short"]


def test_agents_sharing_a_transform_share_its_cache(fake_llm: FakeLlmServer) -> None:
    # Two agents in one flow: the second one's request holds the same long
    # message, summarized by the first one: the run's cache answers.
    fake_llm.script(None, "short", system=MESSAGE_INSTRUCTIONS)
    transform = message_transform(fake_llm)
    first = make_agent(fake_llm, "first", human_in_the_loop=False, transforms=[transform])
    second = make_agent(fake_llm, "second", prompt="You check.", human_in_the_loop=False,
                        transforms=[transform])
    flow = chain("two", InputMessageNode(name="ask"), AgentNode(name="a", agent=first),
                 AgentNode(name="b", agent=second))
    run = runtime(llm={"url": fake_llm.url})
    started = run.run(flow)
    result = run.resume(started.run_id, answer(started, LONG))
    assert result.status == "finished", result.error
    assert len(summary_requests(fake_llm, MESSAGE_INSTRUCTIONS)) == 1
    checked = [b for b in fake_llm.requests if system_prompt(b) == "You check."]
    assert checked[0]["messages"][1]["content"] == "Summarized message: short"


def test_resume_does_not_summarize_again(fake_llm: FakeLlmServer) -> None:
    fake_llm.script(None, "short", system=MESSAGE_INSTRUCTIONS)
    fake_llm.script(None, "ok", system=AGENT_PROMPT)
    agent = make_agent(fake_llm, transforms=[message_transform(fake_llm)])
    run = runtime(llm={"url": fake_llm.url})
    started = run.run(agent)
    first = run.resume(started.run_id, answer(started, LONG))
    assert len(summary_requests(fake_llm, MESSAGE_INSTRUCTIONS)) == 1
    # Each resume is a new in-memory run: the summary comes back from the journal.
    second = run.resume(first.run_id, answer(first, "thanks"))
    assert second.status == "waiting"
    assert len(summary_requests(fake_llm, MESSAGE_INSTRUCTIONS)) == 1
    assert agent_requests(fake_llm)[-1]["messages"][1]["content"] == "Summarized message: short"


def test_transforms_run_in_order(fake_llm: FakeLlmServer) -> None:
    fake_llm.script(None, "short", system=MESSAGE_INSTRUCTIONS)
    fake_llm.script(None, "S", system=CONVERSATION_INSTRUCTIONS)
    fake_llm.script(None, "ok", system=AGENT_PROMPT)
    transforms = [message_transform(fake_llm),
                  conversation_transform(fake_llm, max_num_messages=2, min_num_messages=1)]
    agent = make_agent(fake_llm, transforms=transforms)
    run = runtime(llm={"url": fake_llm.url})
    started = run.run(agent)
    first = run.resume(started.run_id, answer(started, LONG))
    run.resume(first.run_id, answer(first, "next"))
    [asked] = summary_requests(fake_llm, CONVERSATION_INSTRUCTIONS)
    # The conversation summarizer read the message summary, not the long message.
    assert asked["messages"][-1]["content"] == "user: Summarized message: short\nassistant: ok"


def test_a_failing_summarizer_fails_the_run_clearly(fake_llm: FakeLlmServer) -> None:
    agent = make_agent(fake_llm, transforms=[message_transform(fake_llm)])
    run = runtime(llm={"url": fake_llm.url})
    started = run.run(agent)
    fake_llm.fail_next(10)
    result = run.resume(started.run_id, answer(started, LONG))
    assert result.status == "failed"
    assert result.error is not None
    assert "MessageSummarizationTransform 'shorten'" in result.error.message


def test_split_point_never_separates_a_call_from_its_results() -> None:
    messages = [
        {"role": "user"}, {"role": "assistant", "tool_calls": [{}, {}]},
        {"role": "tool"}, {"role": "tool"}, {"role": "assistant"},
    ]
    assert split_point(messages, 2) == 1  # the call and both results stay
    assert split_point(messages, 1) == 4
    assert split_point(messages, 4) == 1
    assert split_point(messages, 9) == 0


def test_summary_cache_evicts_the_least_recent_and_expires() -> None:
    cache = SummaryCache(max_size=2, lifetime=None)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"
    cache.put("c", "C")
    assert cache.get("b") is None and cache.get("a") == "A" and len(cache) == 2
    expiring = SummaryCache(max_size=None, lifetime=1)
    expiring.put("a", "A")
    expiring._entries["a"] = ("A", time.monotonic() - 5)
    assert expiring.get("a") is None


def test_an_in_memory_datastore_is_the_default() -> None:
    transform = MessageSummarizationTransform(name="t", llm=llm_config_stub())
    assert isinstance(transform.datastore, InMemoryCollectionDatastore)


def llm_config_stub() -> Any:
    return loom.spec.llms.OpenAiCompatibleConfig(name="m", url="http://127.0.0.1:9",
                                                 model_id="x")


def test_docs_example_summarizes(shared_dir: Path, fake_llm: FakeLlmServer) -> None:
    with pytest.warns(loom.VersionWarning, match="26.2.0 was never published"):
        agent = loom.load(shared_dir / "conformance" / "docs_examples"
                          / "howto_summarization_transforms.json")
    instructions = "Create a concise summary of this message"
    fake_llm.script(None, "key points only", system=instructions)
    fake_llm.script(None, "Understood.", system="helpful assistant")
    run = runtime(llm={"url": fake_llm.url})
    started = run.run(agent)
    long = "Meeting notes. " * 1000  # 15000 characters, over max_message_size 10000
    result = run.resume(started.run_id, answer(started, long))
    assert result.status == "waiting" and result.pending[0].prompt == "Understood."
    asked, request = fake_llm.requests
    assert instructions in system_prompt(asked)
    assert request["messages"][1]["content"] == "Message summary: key points only"
