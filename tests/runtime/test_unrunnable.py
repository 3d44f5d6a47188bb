"""What loom reads but cannot run fails when the flow is compiled, before any
node runs, naming the component, its node and what it would need; and a flow
that pyagentspec 26.3.1 writes at 26.3.1 loads and runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.cli import main
from loom.errors import PlanError
from loom.spec import datastores, llms, remote_agents, transforms
from loom.spec.agents import Agent
from loom.spec.nodes import AgentNode, LlmNode, ToolNode
from loom.spec.tools import BuiltinTool
from loom.testing import FakeLlmServer

from .conftest import Spy, linear_flow, llm_config, prop, runtime, tool_node


def oci_client() -> llms.OciClientConfigWithInstancePrincipal:
    return llms.OciClientConfigWithInstancePrincipal(name="cc", service_endpoint="https://oci")


def llm_node(config: llms.LlmConfig) -> LlmNode:
    return LlmNode(name="write", prompt_template="Write a haiku", llm_config=config)


def oracle_store() -> datastores.OracleDatabaseDatastore:
    return datastores.OracleDatabaseDatastore(
        name="ora",
        datastore_schema={"summarized_messages_cache":
                          transforms.MessageSummarizationTransform.cache_entity()},
        connection_config=datastores.TlsOracleDatabaseConnectionConfig(
            name="conn", user="u", password="p", dsn="d"),
    )


# (case, the node that holds it, the component named, what the message says it needs)
CASES: list[tuple[str, Callable[[FakeLlmServer], Any], str, str]] = [
    ("OciAgent", lambda _: AgentNode(name="write", agent=remote_agents.OciAgent(
        name="oci_agent", agent_endpoint_id="ocid1.agent", client_config=oci_client())),
     "OciAgent 'oci_agent'", "a client of OCI Generative AI Agents"),
    ("OciGenAiConfig", lambda _: llm_node(llms.OciGenAiConfig(
        name="oci_llm", model_id="cohere.command", compartment_id="c",
        client_config=oci_client())),
     "OciGenAiConfig 'oci_llm'", "a client of OCI Generative AI's API"),
    ("GeminiConfig", lambda _: llm_node(llms.GeminiConfig(
        name="gemini", model_id="gemini-2.5", auth=llms.GeminiAIStudioAuthConfig(name="a"))),
     "GeminiConfig 'gemini'", "a client of Google Gemini's API"),
    ("DbmsVectorChainLlmConfig", lambda _: llm_node(llms.DbmsVectorChainLlmConfig(
        name="in_db", model_id="gpt", provider="openai", url="https://p", credential_name="C")),
     "DbmsVectorChainLlmConfig 'in_db'", "an Oracle Database session that calls the model"),
    ("OracleDatabaseDatastore", lambda server: AgentNode(name="write", agent=Agent(
        name="helper", llm_config=llm_config(server), system_prompt="You help.",
        transforms=[transforms.MessageSummarizationTransform(
            name="summarize", llm=llm_config(server), datastore=oracle_store())])),
     "OracleDatabaseDatastore 'ora'", "an Oracle Database client"),
    ("BuiltinTool", lambda _: ToolNode(name="write", tool=BuiltinTool(
        name="interpreter", tool_type="code")),
     "BuiltinTool 'interpreter'", "an implementation of its tool_type"),
    ("BuiltinTool of an agent", lambda server: AgentNode(name="write", agent=Agent(
        name="helper", llm_config=llm_config(server), system_prompt="You help.",
        tools=[BuiltinTool(name="search", tool_type="web_search")])),
     "BuiltinTool 'search'", "an implementation of its tool_type"),
]


@pytest.mark.parametrize(("case", "make", "named", "needs"), CASES, ids=[c[0] for c in CASES])
def test_refused_when_compiled_before_any_node_runs(
    fake_llm: FakeLlmServer, case: str, make: Callable[[FakeLlmServer], Any], named: str,
    needs: str,
) -> None:
    first = Spy(lambda: "ready")
    flow = linear_flow("unrunnable", tool_node("prepare", outputs=[prop("ready")]),
                       make(fake_llm), outputs=[])
    rt = runtime({"prepare": first})
    with pytest.raises(PlanError) as info:
        rt.run(flow, {})
    error = info.value
    assert error.node == "unrunnable > write"
    assert error.message.startswith(f"{named} (id ")
    assert f"cannot run in loom: it needs {needs}" in error.message
    assert error.hint
    assert first.calls == []  # nothing ran
    assert fake_llm.requests == []


def test_the_command_line_refuses_a_builtin_tool_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = Agent(name="coder", llm_config=llms.OpenAiCompatibleConfig(
        name="llm", model_id="m", url="http://127.0.0.1:9"), system_prompt="You code.",
        tools=[BuiltinTool(name="interpreter", tool_type="code")])
    path = tmp_path / "coder.json"
    path.write_text(loom.dumps(agent))
    assert main(["run", str(path), "--store", "memory:", "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "BuiltinTool 'interpreter'" in err and "implementation of its tool_type" in err, err
    assert "as a ServerTool" in err and "Traceback" not in err


@pytest.mark.parametrize("case", ["OciGenAiConfig", "GeminiConfig", "DbmsVectorChainLlmConfig"])
def test_an_llm_url_override_sends_those_llm_calls_elsewhere(
    fake_llm: FakeLlmServer, case: str
) -> None:
    make = next(c[1] for c in CASES if c[0] == case)
    flow = linear_flow("overridden", make(fake_llm), outputs=[prop("generated_text")])
    result = runtime(llm={"url": fake_llm.url}).run(flow, {})
    assert result.status == "finished", result.error
    assert len(fake_llm.requests) == 1


def test_a_flow_that_pyagentspec_writes_at_26_3_1_loads_and_runs(fake_llm: FakeLlmServer) -> None:
    pytest.importorskip("pyagentspec")
    from pyagentspec.flows.edges import ControlFlowEdge, DataFlowEdge
    from pyagentspec.flows.flow import Flow
    from pyagentspec.flows.nodes import EndNode, LlmNode, StartNode, ToolNode
    from pyagentspec.llms import OpenAiCompatibleConfig
    from pyagentspec.property import StringProperty
    from pyagentspec.serialization import AgentSpecSerializer
    from pyagentspec.tools import ServerTool
    from pyagentspec.versioning import AgentSpecVersionEnum

    topic = StringProperty(title="topic")
    tool = ServerTool(name="shout", inputs=[topic], outputs=[StringProperty(title="loud")])
    start = StartNode(name="start", inputs=[topic])
    step = ToolNode(name="shout_step", tool=tool)
    llm = OpenAiCompatibleConfig(name="fake", model_id="fake-model", url=fake_llm.url)
    write = LlmNode(name="write", llm_config=llm, prompt_template="A haiku on {{loud}}")
    end = EndNode(name="end", outputs=[StringProperty(title="generated_text")])
    flow = Flow(
        name="haiku", start_node=start, nodes=[start, step, write, end],
        control_flow_connections=[
            ControlFlowEdge(name="c1", from_node=start, to_node=step),
            ControlFlowEdge(name="c2", from_node=step, to_node=write),
            ControlFlowEdge(name="c3", from_node=write, to_node=end),
        ],
        data_flow_connections=[
            DataFlowEdge(name="d1", source_node=start, source_output="topic",
                         destination_node=step, destination_input="topic"),
            DataFlowEdge(name="d2", source_node=step, source_output="loud",
                         destination_node=write, destination_input="loud"),
            DataFlowEdge(name="d3", source_node=write, source_output="generated_text",
                         destination_node=end, destination_input="generated_text"),
        ],
    )
    text = AgentSpecSerializer().to_json(flow, agentspec_version=AgentSpecVersionEnum.v26_3_1)
    assert json.loads(text)["agentspec_version"] == "26.3.1"
    loaded = loom.loads(text)
    result = runtime({"shout": lambda topic: topic.upper()}).run(loaded, {"topic": "rain"})
    assert result.status == "finished", result.error
    assert isinstance(result.outputs["generated_text"], str) and result.outputs["generated_text"]
    assert "RAIN" in json.dumps(fake_llm.requests[0])
    assert loom.to_dict(loaded)["agentspec_version"] == "26.3.1"
