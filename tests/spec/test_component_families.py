"""The non-flow component families: tools, toolboxes, transports, LLM configs,
agents, remote agents, datastores, transforms and auth.

Most tests use loom alone. The ``sdk`` tests compare loom's classes with the
reference SDK (pyagentspec, a test oracle only: loom never imports it) and are
skipped when it is not installed.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from enum import Enum
from typing import Any

import pytest
from pydantic import BaseModel

from loom.errors import LoomWarning, SpecError
from loom.spec import (
    agents,
    auth,
    datastores,
    llms,
    remote_agents,
    tools,
    transforms,
    transports,
)
from loom.spec.component import COMPONENT_TYPES, Component
from loom.spec.property import IntegerProperty, ObjectProperty, Property, StringProperty
from loom.spec.retry_policy import RETRY_POLICY_DEFAULTS, retry_settings
from loom.spec.versions import version_key

MODULES = [tools, transports, llms, agents, remote_agents, datastores, transforms, auth]
LOOM_CLASSES: dict[str, type[Component]] = {
    name: value
    for module in MODULES
    for name, value in vars(module).items()
    if isinstance(value, type)
    and issubclass(value, Component)
    and value.__module__ == module.__name__
}
CONCRETE = sorted(name for name, cls in LOOM_CLASSES.items() if not cls.abstract)
ABSTRACT = sorted(name for name, cls in LOOM_CLASSES.items() if cls.abstract)
BASE_KEYS = ("id", "name", "description", "metadata")

# AGENTSPEC section 11: every non-flow component type and its minimum version.
CHECKLIST: dict[str, str] = {
    "Agent": "25.4.1",
    "SpecializedAgent": "25.4.2",
    "AgentSpecializationParameters": "25.4.2",
    "Swarm": "25.4.2",
    "ManagerWorkers": "25.4.2",
    "OciAgent": "25.4.1",
    "A2AAgent": "25.4.2",
    "A2AConnectionConfig": "25.4.2",
    "ServerTool": "25.4.1",
    "ClientTool": "25.4.1",
    "RemoteTool": "25.4.1",
    "BuiltinTool": "25.4.2",
    "MCPTool": "25.4.1",
    "MCPToolBox": "25.4.1",
    "MCPToolSpec": "25.4.1",
    "StdioTransport": "25.4.1",
    "SSETransport": "25.4.1",
    "SSEmTLSTransport": "25.4.1",
    "StreamableHTTPTransport": "25.4.1",
    "StreamableHTTPmTLSTransport": "25.4.1",
    "LlmConfig": "26.1.2",
    "OpenAiCompatibleConfig": "25.4.1",
    "VllmConfig": "25.4.1",
    "OllamaConfig": "25.4.1",
    "OpenAiConfig": "25.4.1",
    "OciGenAiConfig": "25.4.1",
    "GeminiConfig": "26.1.2",
    "DbmsVectorChainLlmConfig": "26.3.1",
    "GeminiAIStudioAuthConfig": "26.1.2",
    "GeminiVertexAIAuthConfig": "26.1.2",
    "OciClientConfigWithApiKey": "25.4.1",
    "OciClientConfigWithSecurityToken": "25.4.1",
    "OciClientConfigWithInstancePrincipal": "25.4.1",
    "OciClientConfigWithResourcePrincipal": "25.4.1",
    "OAuthConfig": "26.1.2",
    "OAuthClientConfig": "26.1.2",
    "MessageSummarizationTransform": "26.1.2",
    "ConversationSummarizationTransform": "26.1.2",
    "InMemoryCollectionDatastore": "26.1.2",
    "OracleDatabaseDatastore": "26.1.2",
    "PostgresDatabaseDatastore": "26.1.2",
    "TlsOracleDatabaseConnectionConfig": "26.1.2",
    "MTlsOracleDatabaseConnectionConfig": "26.1.2",
    "TlsPostgresDatabaseConnectionConfig": "26.1.2",
}
ABSTRACT_FAMILIES = {
    "Tool",
    "ToolBox",
    "ClientTransport",
    "RemoteTransport",
    "RemoteAgent",
    "OciClientConfig",
    "GeminiAuthConfig",
    "Datastore",
    "RelationalDatastore",
    "OracleDatabaseConnectionConfig",
    "PostgresDatabaseConnectionConfig",
    "MessageTransform",
    "AuthConfig",
}
# AGENTSPEC 1.7 (the SDK's markers included).
SENSITIVE: dict[str, set[str]] = {
    "LlmConfig": {"api_key"},
    "OpenAiCompatibleConfig": {"api_key", "key_file", "cert_file", "ca_file"},
    "VllmConfig": {"api_key", "key_file", "cert_file", "ca_file"},
    "OllamaConfig": {"api_key", "key_file", "cert_file", "ca_file"},
    "OpenAiConfig": {"api_key"},
    "OciGenAiConfig": {"api_key"},
    "GeminiConfig": {"api_key"},
    "DbmsVectorChainLlmConfig": {"api_key"},  # inherited, and never set
    "GeminiAIStudioAuthConfig": {"api_key"},
    "GeminiVertexAIAuthConfig": {"credentials"},
    "OciClientConfigWithSecurityToken": {"auth_file_location"},
    "OciClientConfigWithApiKey": {"auth_file_location"},
    "RemoteTool": {"sensitive_headers"},
    "SSETransport": {"sensitive_headers"},
    "StreamableHTTPTransport": {"sensitive_headers"},
    "SSEmTLSTransport": {"sensitive_headers", "key_file", "cert_file", "ca_file"},
    "StreamableHTTPmTLSTransport": {"sensitive_headers", "key_file", "cert_file", "ca_file"},
    "TlsOracleDatabaseConnectionConfig": {"user", "password", "dsn"},
    "MTlsOracleDatabaseConnectionConfig": {
        "user",
        "password",
        "dsn",
        "wallet_location",
        "wallet_password",
    },
    "TlsPostgresDatabaseConnectionConfig": {"user", "password", "sslkey"},
    "OAuthClientConfig": {"client_id", "client_secret", "client_id_metadata_url"},
}


def implied(cls: type[Component]) -> frozenset[str]:
    return frozenset(getattr(cls, "implied_fields", frozenset()))


# --- loom factories -----------------------------------------------------------------


def vllm(**kw: Any) -> llms.VllmConfig:
    return llms.VllmConfig(name="llm", model_id="model", url="http://localhost:8000", **kw)


def oci_client() -> llms.OciClientConfigWithInstancePrincipal:
    return llms.OciClientConfigWithInstancePrincipal(name="oci", service_endpoint="https://oci")


def oci_genai(**kw: Any) -> llms.OciGenAiConfig:
    return llms.OciGenAiConfig(
        name="oci-llm",
        model_id="cohere.command",
        compartment_id="c1",
        client_config=oci_client(),
        **kw,
    )


def stdio() -> transports.StdioTransport:
    return transports.StdioTransport(name="stdio", command="mcp-server")


def sse(**kw: Any) -> transports.SSETransport:
    return transports.SSETransport(name="sse", url="https://mcp.example/sse", **kw)


def server_tool(name: str = "get_time", **kw: Any) -> tools.ServerTool:
    return tools.ServerTool(
        name=name,
        description="the time",
        inputs=[StringProperty(title="tz")],
        outputs=[StringProperty(title="time")],
        **kw,
    )


def remote_tool(**kw: Any) -> tools.RemoteTool:
    values: dict[str, Any] = {"url": "https://api.example/items", "http_method": "GET"}
    values.update(kw)
    return tools.RemoteTool(name="api", **values)


def agent(name: str = "agent", system_prompt: str = "You help.", **kw: Any) -> agents.Agent:
    return agents.Agent(name=name, llm_config=vllm(), system_prompt=system_prompt, **kw)


def message_transform(**kw: Any) -> transforms.MessageSummarizationTransform:
    return transforms.MessageSummarizationTransform(name="summarize", llm=vllm(), **kw)


def conversation_transform(**kw: Any) -> transforms.ConversationSummarizationTransform:
    return transforms.ConversationSummarizationTransform(name="summarize", llm=vllm(), **kw)


def memory_store(entity: dict[str, Any], collection: str = "summarized_messages_cache"):
    return datastores.InMemoryCollectionDatastore(
        name="store", datastore_schema={collection: entity}
    )


def oauth(**kw: Any) -> auth.OAuthConfig:
    values: dict[str, Any] = {
        "client": auth.OAuthClientConfig(name="client", type="pre_registered", client_id="cid"),
        "redirect_uri": "http://localhost/callback",
    }
    values.update(kw)
    return auth.OAuthConfig(name="oauth", **values)


# One valid instance of every concrete class.
SAMPLES: dict[str, Callable[[], Component]] = {
    "ServerTool": server_tool,
    "ClientTool": lambda: tools.ClientTool(name="ask"),
    "RemoteTool": remote_tool,
    "BuiltinTool": lambda: tools.BuiltinTool(name="b", tool_type="code_interpreter"),
    "MCPTool": lambda: tools.MCPTool(name="t", client_transport=stdio()),
    "MCPToolBox": lambda: tools.MCPToolBox(name="box", client_transport=sse()),
    "MCPToolSpec": lambda: tools.MCPToolSpec(name="t"),
    "StdioTransport": stdio,
    "SSETransport": sse,
    "SSEmTLSTransport": lambda: transports.SSEmTLSTransport(
        name="s", url="https://m", key_file="k.pem", cert_file="c.pem", ca_file="ca.pem"
    ),
    "StreamableHTTPTransport": lambda: transports.StreamableHTTPTransport(
        name="s", url="https://m"
    ),
    "StreamableHTTPmTLSTransport": lambda: transports.StreamableHTTPmTLSTransport(
        name="s", url="https://m", key_file="k.pem", cert_file="c.pem", ca_file="ca.pem"
    ),
    "LlmConfig": lambda: llms.LlmConfig(name="l", model_id="m", api_provider="openai"),
    "OpenAiCompatibleConfig": lambda: llms.OpenAiCompatibleConfig(name="l", model_id="m", url="u"),
    "VllmConfig": vllm,
    "OllamaConfig": lambda: llms.OllamaConfig(name="l", model_id="m", url="u"),
    "OpenAiConfig": lambda: llms.OpenAiConfig(name="l", model_id="gpt"),
    "OciGenAiConfig": oci_genai,
    "GeminiConfig": lambda: llms.GeminiConfig(
        name="g", model_id="gemini", auth=llms.GeminiAIStudioAuthConfig(name="a")
    ),
    "GeminiAIStudioAuthConfig": lambda: llms.GeminiAIStudioAuthConfig(name="a"),
    "DbmsVectorChainLlmConfig": lambda: llms.DbmsVectorChainLlmConfig(
        name="d", model_id="gpt", provider="openai", url="https://p", credential_name="CRED"
    ),
    "GeminiVertexAIAuthConfig": lambda: llms.GeminiVertexAIAuthConfig(name="a"),
    "OciClientConfigWithApiKey": lambda: llms.OciClientConfigWithApiKey(
        name="c", service_endpoint="x", auth_profile="DEFAULT", auth_file_location="~/.oci/config"
    ),
    "OciClientConfigWithSecurityToken": lambda: llms.OciClientConfigWithSecurityToken(
        name="c", service_endpoint="x", auth_profile="DEFAULT", auth_file_location="~/.oci/config"
    ),
    "OciClientConfigWithInstancePrincipal": oci_client,
    "OciClientConfigWithResourcePrincipal": lambda: llms.OciClientConfigWithResourcePrincipal(
        name="c", service_endpoint="x"
    ),
    "Agent": agent,
    "AgentSpecializationParameters": lambda: agents.AgentSpecializationParameters(name="p"),
    "SpecializedAgent": lambda: agents.SpecializedAgent(
        name="s",
        agent=agent(),
        agent_specialization_parameters=agents.AgentSpecializationParameters(name="p"),
    ),
    "Swarm": lambda: agents.Swarm(
        name="swarm", first_agent=(a := agent("a")), relationships=[[a, agent("b")]]
    ),
    "ManagerWorkers": lambda: agents.ManagerWorkers(
        name="team", group_manager=agent("m"), workers=[agent("w")]
    ),
    "OciAgent": lambda: remote_agents.OciAgent(
        name="o", agent_endpoint_id="ocid1", client_config=oci_client()
    ),
    "A2AConnectionConfig": lambda: remote_agents.A2AConnectionConfig(name="c"),
    "A2AAgent": lambda: remote_agents.A2AAgent(
        name="a2a",
        agent_url="https://agent",
        connection_config=remote_agents.A2AConnectionConfig(name="c"),
    ),
    "MessageSummarizationTransform": message_transform,
    "ConversationSummarizationTransform": conversation_transform,
    "InMemoryCollectionDatastore": lambda: memory_store(
        transforms.MessageSummarizationTransform.cache_entity()
    ),
    "OracleDatabaseDatastore": lambda: datastores.OracleDatabaseDatastore(
        name="ora",
        datastore_schema={"c": {"type": "object", "properties": {}}},
        connection_config=datastores.TlsOracleDatabaseConnectionConfig(
            name="conn", user="u", password="p", dsn="d"
        ),
    ),
    "PostgresDatabaseDatastore": lambda: datastores.PostgresDatabaseDatastore(
        name="pg",
        datastore_schema={"c": {"type": "object", "properties": {}}},
        connection_config=datastores.TlsPostgresDatabaseConnectionConfig(
            name="conn", user="u", password="p", url="postgresql://db"
        ),
    ),
    "TlsOracleDatabaseConnectionConfig": lambda: datastores.TlsOracleDatabaseConnectionConfig(
        name="conn", user="u", password="p", dsn="d"
    ),
    "MTlsOracleDatabaseConnectionConfig": lambda: datastores.MTlsOracleDatabaseConnectionConfig(
        name="conn", user="u", password="p", dsn="d", wallet_location="w", wallet_password="wp"
    ),
    "TlsPostgresDatabaseConnectionConfig": lambda: datastores.TlsPostgresDatabaseConnectionConfig(
        name="conn", user="u", password="p", url="postgresql://db"
    ),
    "OAuthClientConfig": lambda: auth.OAuthClientConfig(name="client", type="dynamic_registration"),
    "OAuthConfig": oauth,
}


# --- the catalogue ------------------------------------------------------------------


def test_every_checklist_type_is_a_registered_concrete_class() -> None:
    assert sorted(CHECKLIST) == CONCRETE
    for name in CHECKLIST:
        assert COMPONENT_TYPES[name] is LOOM_CLASSES[name]


def test_abstract_families_are_never_component_types() -> None:
    assert set(ABSTRACT) == ABSTRACT_FAMILIES
    for name in ABSTRACT:
        assert name not in COMPONENT_TYPES


@pytest.mark.parametrize("name", sorted(CHECKLIST))
def test_minimum_version_follows_the_checklist(name: str) -> None:
    assert LOOM_CLASSES[name].min_agentspec_version == CHECKLIST[name]


@pytest.mark.parametrize("name", sorted(CHECKLIST))
def test_a_default_sample_needs_only_its_type_version(name: str) -> None:
    component = SAMPLES[name]()
    assert component.feature_versions() == [(CHECKLIST[name], name)]


@pytest.mark.parametrize("name", CONCRETE)
def test_sensitive_fields_follow_agentspec(name: str) -> None:
    assert set(LOOM_CLASSES[name].sensitive_fields) == SENSITIVE.get(name, set())


# --- inputs and outputs ---------------------------------------------------------------


def test_authoring_feels_like_pyagentspec() -> None:
    tool = server_tool()
    assert [p.title for p in tool.inputs or []] == ["tz"]
    assert [p.title for p in tool.outputs or []] == ["time"]
    built = agents.Agent(
        name="helper",
        llm_config=vllm(),
        system_prompt="Hi {{user}}, see {{ topic }}.",
        tools=[tool],
    )
    assert [(p.title, p.type) for p in built.inputs or []] == [
        ("user", "string"),
        ("topic", "string"),
    ]
    assert built.outputs == []
    assert built.toolboxes == [] and built.transforms == [] and built.human_in_the_loop is True


def test_agent_accepts_more_specific_declared_inputs() -> None:
    built = agent(system_prompt="Count to {{n}}", inputs=[IntegerProperty(title="n", default=3)])
    declared = built.input("n")
    assert declared is not None and declared.type == "integer"


def test_agent_refuses_inputs_that_are_not_placeholders() -> None:
    with pytest.raises(SpecError) as info:
        agent(system_prompt="Hi {{user}}", inputs=[StringProperty(title="other")])
    message = str(info.value)
    assert "Agent 'agent'" in message and "missing ['user']" in message
    assert "unexpected ['other']" in message and info.value.hint


def test_agent_structured_outputs_are_as_given() -> None:
    built = agent(outputs=[IntegerProperty(title="score")])
    assert built.has_structured_outputs and [p.title for p in built.outputs or []] == ["score"]


def test_remote_tool_infers_inputs_from_every_templated_field() -> None:
    tool = remote_tool(
        url="https://{{host}}/items/{{item}}",
        http_method="{{method}}",
        api_spec_uri="https://{{host}}/spec",
        data={"{{key}}": ["{{value}}", {"deep": "{{nested}}"}]},
        query_params={"q": "{{query}}"},
        headers={"X-User": "{{user}}"},
        sensitive_headers={"Authorization": "Bearer {{token}}"},
    )
    titles = {p.title for p in tool.inputs or []}
    assert titles == {"host", "item", "method", "key", "value", "nested", "query", "user"}
    assert all(p.type == "string" for p in tool.inputs or [])


def test_remote_tool_data_may_be_a_string() -> None:
    tool = remote_tool(http_method="POST", data='{"a": "{{a}}"}')
    assert [p.title for p in tool.inputs or []] == ["a"]


def test_remote_tool_refuses_inputs_beyond_its_placeholders() -> None:
    with pytest.raises(SpecError, match="RemoteTool 'api'.*unexpected \\['x'\\]"):
        remote_tool(inputs=[StringProperty(title="x")])


def test_specialization_parameters_and_specialized_agent_io() -> None:
    params = agents.AgentSpecializationParameters(
        name="essay",
        additional_instructions="Write about {{topic}} for {{user}}.",
        additional_tools=[server_tool("search")],
        human_in_the_loop=False,
    )
    assert {p.title for p in params.inputs or []} == {"topic", "user"}
    assert params.outputs == []
    base = agent(
        system_prompt="You know {{user}}.",
        outputs=[StringProperty(title="essay")],
        tools=[server_tool()],
    )
    special = agents.SpecializedAgent(name="s", agent=base, agent_specialization_parameters=params)
    assert sorted(p.title for p in special.inputs or []) == ["topic", "user"]
    assert [p.title for p in special.outputs or []] == ["essay"]
    assert [t.name for t in special.tools] == ["get_time", "search"]
    assert special.human_in_the_loop is False


def test_swarm_helpers() -> None:
    a, b, c = agent("a"), agent("b"), agent("c")
    swarm = agents.Swarm(name="s", first_agent=a, relationships=[[a, b], [b, c], (a, c)])
    assert [x.name for x in swarm.agents] == ["a", "b", "c"]
    assert [x.name for x in swarm.recipients(a)] == ["b", "c"]
    assert swarm.handoff == "optional"


@pytest.mark.parametrize(("given", "mode"), [(True, "optional"), (False, "never")])
def test_swarm_handoff_booleans_are_deprecated(given: bool, mode: str) -> None:
    a, b = agent("a"), agent("b")
    with pytest.warns(LoomWarning, match="deprecated"):
        swarm = agents.Swarm(
            name="s",
            first_agent=a,
            relationships=[[a, b]],
            handoff=given,  # type: ignore[arg-type]
        )
    assert swarm.handoff == mode


def test_mcp_toolbox_filter_names() -> None:
    box = tools.MCPToolBox(
        name="box",
        client_transport=sse(),
        tool_filter=["a", tools.MCPToolSpec(name="b", outputs=[StringProperty(title="out")])],
    )
    assert box.filter_names() == ["a", "b"]
    assert tools.MCPToolBox(name="box", client_transport=sse()).filter_names() is None


# --- plain nested objects and implied fields -----------------------------------------


def test_plain_objects_stay_plain_dicts() -> None:
    assert stdio().session_parameters == {"read_timeout_seconds": 60.0}
    assert stdio().session_parameters is not stdio().session_parameters
    a2a = SAMPLES["A2AAgent"]()
    assert isinstance(a2a, remote_agents.A2AAgent)
    assert a2a.session_parameters == {"timeout": 60.0, "poll_interval": 2.0, "max_retries": 5}
    llm = vllm(
        retry_policy={"max_attempts": 5},
        default_generation_parameters={"temperature": 0.2, "seed": 1},
    )
    assert llm.retry_policy == {"max_attempts": 5}
    assert llm.default_generation_parameters == {"temperature": 0.2, "seed": 1}
    assert retry_settings(llm.retry_policy) == {**RETRY_POLICY_DEFAULTS, "max_attempts": 5}
    assert retry_settings(None) is None
    flow = oauth(
        pkce={"method": "plain"}, endpoints={"authorization_endpoint": "a", "token_endpoint": "t"}
    )
    assert flow.pkce == {"method": "plain"} and flow.pkce_policy == {
        "required": True,
        "method": "plain",
    }


@pytest.mark.parametrize(
    ("factory", "field", "constant"),
    [
        (lambda **kw: vllm(**kw), "api_provider", "vllm"),
        (
            lambda **kw: llms.OllamaConfig(name="o", model_id="m", url="u", **kw),
            "api_provider",
            "ollama",
        ),
        (lambda **kw: llms.OpenAiConfig(name="o", model_id="m", **kw), "provider", "openai"),
        (lambda **kw: llms.OpenAiConfig(name="o", model_id="m", **kw), "api_provider", "openai"),
        (lambda **kw: oci_genai(**kw), "api_provider", "oci"),
        (
            lambda **kw: llms.GeminiConfig(
                name="g", model_id="m", auth=llms.GeminiAIStudioAuthConfig(name="a"), **kw
            ),
            "provider",
            "google",
        ),
    ],
)
def test_implied_constants_are_accepted_and_checked(factory, field: str, constant: str) -> None:
    assert getattr(factory(), field) == constant
    assert getattr(factory(**{field: constant}), field) == constant
    assert getattr(factory(**{field: None}), field) == constant
    with pytest.raises(SpecError) as info:
        factory(**{field: "somebody-else"})
    assert f"is always '{constant}'" in str(info.value) and info.value.hint


def test_implied_fields_are_declared() -> None:
    assert implied(llms.VllmConfig) == {"api_provider"}
    assert implied(llms.OllamaConfig) == {"api_provider"}
    assert implied(llms.OpenAiConfig) == {"provider", "api_provider", "url"}
    assert implied(llms.OciGenAiConfig) == {"api_provider", "api_key", "url"}
    assert implied(llms.GeminiConfig) == {"provider", "url"}
    assert implied(auth.OAuthConfig) == implied(auth.OAuthClientConfig) == {"min_agentspec_version"}


def test_oauth_accepts_the_sdk_min_agentspec_version_key() -> None:
    client = auth.OAuthClientConfig(
        name="c",
        type="pre_registered",
        min_agentspec_version="26.1.2",  # type: ignore[call-arg]
    )
    config = oauth(client=client, min_agentspec_version="26.1.2")
    assert "min_agentspec_version" not in config.model_fields_set
    assert config.min_agentspec_version == "26.1.2"


def test_oci_client_auth_type_is_filled_in() -> None:
    assert oci_client().auth_type == "INSTANCE_PRINCIPAL"
    with_key = SAMPLES["OciClientConfigWithApiKey"]()
    assert isinstance(with_key, llms.OciClientConfigWithApiKey)
    assert with_key.auth_type == "API_KEY"


def test_oci_grok_provider_warns() -> None:
    with pytest.warns(LoomWarning, match="prefer 'XAI'"):
        oci_genai(provider="GROK")


def test_duplicate_tool_names_warn() -> None:
    with pytest.warns(LoomWarning, match="several tools are named \\['get_time'\\]"):
        agent(tools=[server_tool(), server_tool()])


# --- transforms and datastores --------------------------------------------------------


def test_transforms_get_an_in_memory_cache_by_default() -> None:
    transform = message_transform()
    assert isinstance(transform.datastore, datastores.InMemoryCollectionDatastore)
    assert set(transform.datastore.datastore_schema) == {"summarized_messages_cache"}
    renamed = conversation_transform(cache_collection_name="my_cache")
    assert renamed.datastore is not None
    entity = renamed.datastore.collections["my_cache"]
    assert entity["properties"]["prefix_size"] == {"type": "integer"}
    assert message_transform(datastore=None).datastore is None


def test_datastore_schema_accepts_object_properties() -> None:
    store = datastores.InMemoryCollectionDatastore(
        name="s",
        datastore_schema={
            "c": ObjectProperty(title="c", properties={"a": StringProperty(title="a")})  # type: ignore[dict-item]
        },
    )
    assert store.datastore_schema["c"]["properties"] == {"a": {"title": "a", "type": "string"}}
    assert not isinstance(store.datastore_schema["c"], Property)


def test_transform_accepts_a_matching_custom_datastore() -> None:
    entity = transforms.MessageSummarizationTransform.cache_entity()
    entity["properties"]["extra"] = {"type": "string"}
    transform = message_transform(datastore=memory_store(entity))
    assert transform.datastore is not None


# --- version gates ----------------------------------------------------------------------


GATES: list[tuple[str, Callable[[], Component], tuple[str, str]]] = [
    (
        "tool confirmation",
        lambda: server_tool(requires_confirmation=True),
        ("25.4.2", "ServerTool.requires_confirmation=true"),
    ),
    (
        "client tool confirmation",
        lambda: tools.ClientTool(name="c", requires_confirmation=True),
        ("25.4.2", "ClientTool.requires_confirmation=true"),
    ),
    (
        "mcp tool spec confirmation",
        lambda: tools.MCPToolSpec(name="t", requires_confirmation=True),
        ("25.4.2", "MCPToolSpec.requires_confirmation=true"),
    ),
    (
        "toolbox confirmation",
        lambda: tools.MCPToolBox(name="b", client_transport=sse(), requires_confirmation=True),
        ("26.1.2", "MCPToolBox.requires_confirmation=true"),
    ),
    (
        "agent toolboxes",
        lambda: agent(toolboxes=[tools.MCPToolBox(name="b", client_transport=sse())]),
        ("25.4.2", "non-empty Agent.toolboxes"),
    ),
    (
        "agent hitl",
        lambda: agent(human_in_the_loop=False),
        ("25.4.2", "Agent.human_in_the_loop=false"),
    ),
    (
        "agent transforms",
        lambda: agent(transforms=[message_transform()]),
        ("26.1.2", "non-empty Agent.transforms"),
    ),
    (
        "openai compatible api key",
        lambda: llms.OpenAiCompatibleConfig(name="l", model_id="m", url="u", api_key="sk-secret"),
        ("25.4.2", "OpenAiCompatibleConfig.api_key set"),
    ),
    (
        "openai compatible responses",
        lambda: llms.OpenAiCompatibleConfig(name="l", model_id="m", url="u", api_type="responses"),
        ("25.4.2", "OpenAiCompatibleConfig.api_type='responses'"),
    ),
    (
        "openai compatible provider",
        lambda: llms.OpenAiCompatibleConfig(name="l", model_id="m", url="u", provider="meta"),
        ("26.1.2", "OpenAiCompatibleConfig.provider='meta'"),
    ),
    ("vllm key file", lambda: vllm(key_file="/k.pem"), ("26.1.2", "VllmConfig.key_file set")),
    ("vllm cert file", lambda: vllm(cert_file="/c.pem"), ("26.1.2", "VllmConfig.cert_file set")),
    ("vllm ca file", lambda: vllm(ca_file="/ca.pem"), ("26.1.2", "VllmConfig.ca_file set")),
    ("vllm retry policy", lambda: vllm(retry_policy={}), ("26.1.2", "VllmConfig.retry_policy set")),
    (
        "openai api key",
        lambda: llms.OpenAiConfig(name="o", model_id="m", api_key="sk"),
        ("25.4.2", "OpenAiConfig.api_key set"),
    ),
    (
        "openai responses",
        lambda: llms.OpenAiConfig(name="o", model_id="m", api_type="responses"),
        ("25.4.2", "OpenAiConfig.api_type='responses'"),
    ),
    (
        "oci conversation store",
        lambda: oci_genai(conversation_store_id="store"),
        ("25.4.2", "OciGenAiConfig.conversation_store_id='store'"),
    ),
    (
        "oci api type",
        lambda: oci_genai(api_type="openai_responses"),
        ("25.4.2", "OciGenAiConfig.api_type='openai_responses'"),
    ),
    ("oci xai", lambda: oci_genai(provider="XAI"), ("26.1.2", "OciGenAiConfig.provider='XAI'")),
    (
        "oci retry",
        lambda: oci_genai(retry_policy={"max_attempts": 1}),
        ("26.1.2", "OciGenAiConfig.retry_policy set"),
    ),
    (
        "remote tool list data",
        lambda: remote_tool(http_method="POST", data=["a"]),
        ("25.4.2", "RemoteTool.data that is not a string-keyed object"),
    ),
    (
        "remote tool text data",
        lambda: remote_tool(http_method="POST", data="raw"),
        ("25.4.2", "RemoteTool.data that is not a string-keyed object"),
    ),
    (
        "remote tool sensitive headers",
        lambda: remote_tool(sensitive_headers={"Authorization": "Bearer x"}),
        ("25.4.2", "RemoteTool.sensitive_headers set"),
    ),
    (
        "remote tool allow list",
        lambda: remote_tool(url_allow_list=["https://api.example"]),
        ("26.1.2", "RemoteTool.url_allow_list set"),
    ),
    (
        "remote tool empty allow list",
        lambda: remote_tool(url_allow_list=[]),
        ("26.1.2", "RemoteTool.url_allow_list set"),
    ),
    (
        "remote tool retry",
        lambda: remote_tool(retry_policy={}),
        ("26.1.2", "RemoteTool.retry_policy set"),
    ),
    (
        "transport sensitive headers",
        lambda: sse(sensitive_headers={"Authorization": "x"}),
        ("25.4.2", "SSETransport.sensitive_headers set"),
    ),
    ("transport auth", lambda: sse(auth=oauth()), ("26.1.2", "SSETransport.auth set")),
    (
        "transport retry",
        lambda: sse(retry_policy={"max_attempts": 3}),
        ("26.1.2", "SSETransport.retry_policy set"),
    ),
    (
        "oci agent retry",
        lambda: remote_agents.OciAgent(
            name="o", agent_endpoint_id="e", client_config=oci_client(), retry_policy={}
        ),
        ("26.1.2", "OciAgent.retry_policy set"),
    ),
    (
        "a2a retry",
        lambda: remote_agents.A2AConnectionConfig(name="c", retry_policy={}),
        ("26.1.2", "A2AConnectionConfig.retry_policy set"),
    ),
]


@pytest.mark.parametrize(("label", "factory", "gate"), GATES, ids=[g[0] for g in GATES])
def test_feature_gates(label: str, factory: Callable[[], Component], gate: tuple[str, str]) -> None:
    component = factory()
    found = component.feature_versions()
    assert gate in found
    assert found[0] == (component.min_agentspec_version, component.component_type)
    assert len(found) == 2, found


def test_gates_never_show_secret_values() -> None:
    text = repr(vllm(api_key="sk-very-secret").feature_versions())
    assert "sk-very-secret" not in text


def test_empty_values_equivalent_to_defaults_need_no_gate() -> None:
    assert len(sse(sensitive_headers={}).feature_versions()) == 1
    assert len(remote_tool(sensitive_headers=None).feature_versions()) == 1
    assert len(agent(toolboxes=[], transforms=[]).feature_versions()) == 1


# --- validation errors ---------------------------------------------------------------


ERRORS: list[tuple[str, Callable[[], Any], str, str]] = [
    # (label, factory, component named, text of the message)
    (
        "remote tool shared header",
        lambda: remote_tool(headers={"X-Key": "a"}, sensitive_headers={"X-Key": "b"}),
        "RemoteTool 'api'",
        "['X-Key'] appear in both",
    ),
    (
        "transport shared header",
        lambda: sse(headers={"Authorization": "a"}, sensitive_headers={"Authorization": "b"}),
        "SSETransport 'sse'",
        "appear in both",
    ),
    (
        "retry unknown key",
        lambda: vllm(retry_policy={"retries": 3}),
        "VllmConfig 'llm'",
        "retry_policy has unknown key(s) ['retries']",
    ),
    (
        "retry delays",
        lambda: vllm(retry_policy={"initial_retry_delay": 10, "max_retry_delay": 2}),
        "VllmConfig 'llm'",
        "max_retry_delay (2) is smaller than initial_retry_delay (10)",
    ),
    (
        "retry default cap",
        lambda: remote_tool(retry_policy={"initial_retry_delay": 9}),
        "RemoteTool 'api'",
        "max_retry_delay (8.0) is smaller",
    ),
    (
        "retry jitter",
        lambda: sse(retry_policy={"jitter": "random"}),
        "SSETransport 'sse'",
        "retry_policy.jitter 'random' is not a jitter mode",
    ),
    (
        "retry attempts",
        lambda: vllm(retry_policy={"max_attempts": -1}),
        "VllmConfig",
        "retry_policy.max_attempts must be at least 0",
    ),
    (
        "retry attempts type",
        lambda: vllm(retry_policy={"max_attempts": True}),
        "VllmConfig",
        "retry_policy.max_attempts must be an integer",
    ),
    (
        "retry timeout",
        lambda: vllm(retry_policy={"request_timeout": 0}),
        "VllmConfig",
        "retry_policy.request_timeout must be greater than 0",
    ),
    (
        "retry backoff",
        lambda: vllm(retry_policy={"backoff_factor": 0}),
        "VllmConfig",
        "backoff_factor must be greater than 0",
    ),
    (
        "retry 5xx",
        lambda: vllm(retry_policy={"service_error_retry_on_any_5xx": "yes"}),
        "VllmConfig",
        "service_error_retry_on_any_5xx must be true or false",
    ),
    (
        "retry statuses",
        lambda: vllm(retry_policy={"recoverable_statuses": {"429": "x"}}),
        "VllmConfig",
        "recoverable_statuses must map",
    ),
    (
        "oci agent retry",
        lambda: remote_agents.OciAgent(
            name="o", agent_endpoint_id="e", client_config=oci_client(), retry_policy={"x": 1}
        ),
        "OciAgent 'o'",
        "unknown key(s) ['x']",
    ),
    (
        "a2a retry",
        lambda: remote_agents.A2AConnectionConfig(name="c", retry_policy={"jitter": "no"}),
        "A2AConnectionConfig 'c'",
        "not a jitter mode",
    ),
    (
        "generation params",
        lambda: vllm(default_generation_parameters={"max_tokens": "many"}),
        "VllmConfig 'llm'",
        "default_generation_parameters.max_tokens must be an integer or null",
    ),
    (
        "openai api type",
        lambda: llms.OpenAiCompatibleConfig(
            name="l", model_id="m", url="u", api_type="completions"
        ),
        "OpenAiCompatibleConfig 'l'",
        "api_type 'completions' is not allowed",
    ),
    (
        "oci api type",
        lambda: oci_genai(api_type="responses"),
        "OciGenAiConfig",
        "api_type 'responses' is not allowed",
    ),
    (
        "oci serving mode",
        lambda: oci_genai(serving_mode="SHARED"),
        "OciGenAiConfig",
        "serving_mode 'SHARED' is not allowed",
    ),
    (
        "oci provider",
        lambda: oci_genai(provider="openai"),
        "OciGenAiConfig",
        "provider 'openai' is not allowed",
    ),
    (
        "oci dedicated",
        lambda: oci_genai(serving_mode="DEDICATED"),
        "OciGenAiConfig 'oci-llm'",
        "a DEDICATED model needs its provider",
    ),
    (
        "oci auth type",
        lambda: llms.OciClientConfigWithApiKey(
            name="c",
            service_endpoint="x",
            auth_profile="p",
            auth_file_location="f",
            auth_type="SECURITY_TOKEN",
        ),
        "OciClientConfigWithApiKey 'c'",
        "auth_type of a OciClientConfigWithApiKey is always 'API_KEY'",
    ),
    (
        "specialization outputs",
        lambda: agents.AgentSpecializationParameters(name="p", outputs=[StringProperty(title="o")]),
        "AgentSpecializationParameters 'p'",
        "specialization parameters have no outputs",
    ),
    (
        "specialization inputs",
        lambda: agents.AgentSpecializationParameters(
            name="p", additional_instructions="{{a}}", inputs=[StringProperty(title="b")]
        ),
        "AgentSpecializationParameters 'p'",
        "missing ['a']",
    ),
    (
        "specialized input types",
        lambda: agents.SpecializedAgent(
            name="s",
            agent=agent(system_prompt="{{n}}", inputs=[IntegerProperty(title="n")]),
            agent_specialization_parameters=agents.AgentSpecializationParameters(
                name="p", additional_instructions="{{n}}"
            ),
        ),
        "SpecializedAgent 's'",
        "input 'n' is integer in agent 'agent' but string in specialization",
    ),
    (
        "swarm without relationships",
        lambda: agents.Swarm(name="s", first_agent=agent(), relationships=[]),
        "Swarm 's'",
        "needs at least one relationship",
    ),
    (
        "swarm triple",
        lambda: agents.Swarm(
            name="s", first_agent=(a := agent("a")), relationships=[[a, agent("b"), agent("c")]]
        ),
        "Swarm 's'",
        "relationship 0 has 3 agent(s), not 2",
    ),
    (
        "swarm self link",
        lambda: agents.Swarm(name="s", first_agent=(a := agent("a")), relationships=[[a, a]]),
        "Swarm 's'",
        "links 'a' to itself",
    ),
    (
        "swarm handoff",
        lambda: agents.Swarm(
            name="s",
            first_agent=(a := agent("a")),
            relationships=[[a, agent("b")]],
            handoff="sometimes",
        ),
        "Swarm 's'",
        "handoff 'sometimes' is not allowed",
    ),
    (
        "team without workers",
        lambda: agents.ManagerWorkers(name="t", group_manager=agent(), workers=[]),
        "ManagerWorkers 't'",
        "needs at least one worker",
    ),
    (
        "manager as worker",
        lambda: agents.ManagerWorkers(
            name="t", group_manager=(m := agent("m")), workers=[agent("w"), m]
        ),
        "ManagerWorkers 't'",
        "the group manager 'm' is also listed as a worker",
    ),
    (
        "duplicate filter",
        lambda: tools.MCPToolBox(
            name="b", client_transport=sse(), tool_filter=["a", tools.MCPToolSpec(name="a")]
        ),
        "MCPToolBox 'b'",
        "tool 'a' is listed more than once",
    ),
    (
        "mcp spec outputs",
        lambda: tools.MCPToolSpec(
            name="t", outputs=[StringProperty(title="a"), StringProperty(title="b")]
        ),
        "MCPToolSpec 't'",
        "outputs may only be one string property",
    ),
    (
        "mcp spec output type",
        lambda: tools.MCPToolSpec(name="t", outputs=[IntegerProperty(title="n")]),
        "MCPToolSpec 't'",
        "outputs may only be one string property",
    ),
    (
        "stdio command",
        lambda: transports.StdioTransport(name="p", command="  "),
        "StdioTransport 'p'",
        "command is empty",
    ),
    (
        "session timeout",
        lambda: transports.StdioTransport(
            name="p", command="x", session_parameters={"read_timeout_seconds": -1}
        ),
        "StdioTransport 'p'",
        "session_parameters.read_timeout_seconds must be greater than 0",
    ),
    (
        "a2a timeout",
        lambda: remote_agents.A2AConnectionConfig(name="c", timeout=0),
        "A2AConnectionConfig 'c'",
        "timeout must be greater than 0",
    ),
    (
        "a2a session",
        lambda: remote_agents.A2AAgent(
            name="a",
            agent_url="u",
            connection_config=remote_agents.A2AConnectionConfig(name="c"),
            session_parameters={"max_retries": -1},
        ),
        "A2AAgent 'a'",
        "session_parameters.max_retries must be at least 0",
    ),
    (
        "conversation both thresholds",
        lambda: conversation_transform(max_num_characters=1000),
        "ConversationSummarizationTransform 'summarize'",
        "exactly one of max_num_messages and max_num_characters must be set, both are",
    ),
    (
        "conversation no threshold",
        lambda: conversation_transform(max_num_messages=None),
        "ConversationSummarizationTransform",
        "exactly one of max_num_messages and max_num_characters",
    ),
    (
        "conversation min >= max",
        lambda: conversation_transform(max_num_messages=10, min_num_messages=10),
        "ConversationSummarizationTransform",
        "max_num_messages (10) must be greater than min_num_messages (10)",
    ),
    (
        "conversation negative",
        lambda: conversation_transform(min_num_messages=0),
        "ConversationSummarizationTransform",
        "min_num_messages must be greater than 0",
    ),
    (
        "message size",
        lambda: message_transform(max_message_size=0),
        "MessageSummarizationTransform 'summarize'",
        "max_message_size must be greater than 0",
    ),
    (
        "cache size",
        lambda: message_transform(max_cache_size=0),
        "MessageSummarizationTransform",
        "max_cache_size must be greater than 0",
    ),
    (
        "cache lifetime",
        lambda: conversation_transform(max_cache_lifetime=-5),
        "ConversationSummarizationTransform",
        "max_cache_lifetime must be greater than 0",
    ),
    (
        "cache collection missing",
        lambda: message_transform(
            datastore=memory_store({"type": "object", "properties": {}}, "other")
        ),
        "MessageSummarizationTransform",
        "datastore 'store' has no collection 'summarized_messages_cache'",
    ),
    (
        "cache field missing",
        lambda: message_transform(datastore=memory_store({"type": "object", "properties": {}})),
        "MessageSummarizationTransform",
        "lacks the field 'cache_key'",
    ),
    (
        "cache field type",
        lambda: conversation_transform(
            datastore=memory_store(
                {
                    "type": "object",
                    "properties": {
                        "cache_key": {"type": "string"},
                        "cache_content": {"type": "string"},
                        "prefix_size": {"type": "array"},
                        "created_at": {"type": "number"},
                        "last_used_at": {"type": "number"},
                    },
                },
                "summarized_conversations_cache",
            )
        ),
        "ConversationSummarizationTransform",
        "field 'prefix_size' of cache collection",
    ),
    (
        "entity not object",
        lambda: datastores.InMemoryCollectionDatastore(
            name="s", datastore_schema={"c": {"type": "string"}}
        ),
        "InMemoryCollectionDatastore 's'",
        "collection 'c' is not described by an object schema",
    ),
    (
        "oracle protocol",
        lambda: datastores.TlsOracleDatabaseConnectionConfig(
            name="c", user="u", password="p", dsn="d", protocol="udp"
        ),
        "TlsOracleDatabaseConnectionConfig 'c'",
        "protocol 'udp' is not allowed",
    ),
    (
        "postgres sslmode",
        lambda: datastores.TlsPostgresDatabaseConnectionConfig(
            name="c", user="u", password="p", url="x", sslmode="sometimes"
        ),
        "TlsPostgresDatabaseConnectionConfig 'c'",
        "sslmode 'sometimes' is not allowed",
    ),
    (
        "oauth client type",
        lambda: auth.OAuthClientConfig(name="c", type="implicit"),
        "OAuthClientConfig 'c'",
        "type 'implicit' is not allowed",
    ),
    (
        "oauth endpoints",
        lambda: oauth(endpoints={"authorization_endpoint": "a"}),
        "OAuthConfig 'oauth'",
        "endpoints needs ['token_endpoint']",
    ),
    (
        "oauth endpoint keys",
        lambda: oauth(
            endpoints={"authorization_endpoint": "a", "token_endpoint": "t", "jwks": "j"}
        ),
        "OAuthConfig 'oauth'",
        "endpoints has unknown key(s) ['jwks']",
    ),
    (
        "oauth scope policy",
        lambda: oauth(scope_policy="any"),
        "OAuthConfig 'oauth'",
        "scope_policy 'any' is not allowed",
    ),
    (
        "oauth pkce method",
        lambda: oauth(pkce={"method": "S512"}),
        "OAuthConfig 'oauth'",
        "pkce.method 'S512' is not allowed",
    ),
    (
        "oauth pkce required",
        lambda: oauth(pkce={"required": "yes"}),
        "OAuthConfig 'oauth'",
        "pkce.required must be true or false",
    ),
]


@pytest.mark.parametrize(("label", "factory", "who", "text"), ERRORS, ids=[e[0] for e in ERRORS])
def test_validation_errors_name_the_component_and_the_fix(
    label: str, factory: Callable[[], Any], who: str, text: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoomWarning)
        with pytest.raises(SpecError) as info:
            factory()
    assert not isinstance(info.value, ValueError)
    message = str(info.value)
    assert message.startswith(who), message
    assert text in message, message
    assert info.value.hint, f"no hint in: {message}"


# --- the reference SDK as an oracle -----------------------------------------------------

SDK_ONLY_KEYS = {"min_agentspec_version"}  # written by the SDK on OAuth classes, accepted by loom
# Fields the SDK gained after 26.2.0 that loom models too, behind their version gate.
SDK_NEWER_FIELDS: dict[str, set[str]] = {
    "MCPTool": {"retry_policy"},
    "MCPToolBox": {"retry_policy"},
}
# The version the SDK comparisons write at (a type newer than it: its own first version):
# 26.3.1 adds retry_policy to the MCP tools, which this file leaves to the MCP tests.
SDK_TARGET = "26.1.2"
SDK_ABSTRACT_MODULES = {
    "MessageTransform": "pyagentspec.transforms.transforms",
    "AuthConfig": "pyagentspec.auth",
    "RelationalDatastore": "pyagentspec.datastores.datastore",
    "OracleDatabaseConnectionConfig": "pyagentspec.datastores.oracle",
    "PostgresDatabaseConnectionConfig": "pyagentspec.datastores.postgres",
}


def _sdk() -> Any:
    return pytest.importorskip(
        "pyagentspec", reason="pyagentspec (the test oracle) is not installed"
    )


def sdk_class(name: str) -> Any:
    _sdk()
    import importlib

    from pyagentspec._component_registry import BUILTIN_CLASS_MAP

    if name in BUILTIN_CLASS_MAP:
        return BUILTIN_CLASS_MAP[name]
    return getattr(importlib.import_module(SDK_ABSTRACT_MODULES[name]), name)


def sdk_version(version: str) -> Any:
    from pyagentspec.versioning import AgentSpecVersionEnum

    return AgentSpecVersionEnum(version)


def sdk_written(cls: Any, version: str) -> list[str]:
    """The class fields the SDK writes in a file of ``version``, in its order."""
    excluded: set[str] = set()
    if not cls._is_abstract:
        excluded = cls.model_construct()._versioned_model_fields_to_exclude(sdk_version(version))
    return [
        field
        for field, info in cls.model_fields.items()
        if field not in BASE_KEYS and not info.exclude and field not in excluded
    ]


def sdk_latest() -> str:
    from pyagentspec.versioning import AgentSpecVersionEnum

    return max((v.value for v in AgentSpecVersionEnum), key=version_key)


def loom_written(cls: type[Component], version: str = SDK_TARGET) -> list[str]:
    """The fields loom writes in a file of ``version``, in its order."""
    return [
        f for f in cls.model_fields
        if f not in BASE_KEYS and f not in implied(cls)
        and version_key(cls.field_versions.get(f, version)) <= version_key(version)
    ]


@pytest.mark.parametrize("name", sorted(LOOM_CLASSES))
def test_sdk_fields_and_order(name: str) -> None:
    cls, sdk = LOOM_CLASSES[name], sdk_class(name)
    expected = [f for f in sdk_written(sdk, SDK_TARGET) if f not in SDK_ONLY_KEYS]
    assert loom_written(cls) == expected
    assert set(sdk_written(sdk, SDK_TARGET)) & SDK_ONLY_KEYS <= implied(cls)


@pytest.mark.parametrize("name", sorted(LOOM_CLASSES))
def test_sdk_never_written_fields_are_implied(name: str) -> None:
    cls, sdk = LOOM_CLASSES[name], sdk_class(name)
    everything = [
        f for f, info in sdk.model_fields.items() if f not in BASE_KEYS and not info.exclude
    ]
    never = set(everything) - set(sdk_written(sdk, sdk_latest()))
    # inherited fields a subclass excludes (DbmsVectorChainLlmConfig's api_key...)
    never |= {f for f, info in sdk.model_fields.items() if info.exclude and f in cls.model_fields}
    assert never == implied(cls) - SDK_ONLY_KEYS
    newer = set(sdk_written(sdk, sdk_latest())) - set(sdk_written(sdk, SDK_TARGET))
    assert newer == SDK_NEWER_FIELDS.get(name, set())
    assert {f: cls.field_versions.get(f) for f in newer} == {f: "26.3.1" for f in newer}


@pytest.mark.parametrize("name", CONCRETE)
def test_sdk_field_versions(name: str) -> None:
    """Files of older versions leave out the same fields as the SDK's."""
    cls, sdk = LOOM_CLASSES[name], sdk_class(name)
    for version in ("25.4.1", "25.4.2", "26.1.0"):
        if version_key(version) < version_key(cls.min_agentspec_version):
            continue  # the type does not exist in that version
        sdk_left_out = set(sdk_written(sdk, SDK_TARGET)) - set(sdk_written(sdk, version))
        loom_left_out = {
            field
            for field, since in cls.field_versions.items()
            if version_key(since) > version_key(version) and field in loom_written(cls)
        }
        assert loom_left_out == sdk_left_out, version


def _plain_default(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return {k: _plain_default(v) for k, v in value.model_dump().items()}
    return value


@pytest.mark.parametrize("name", sorted(LOOM_CLASSES))
def test_sdk_defaults(name: str) -> None:
    cls, sdk = LOOM_CLASSES[name], sdk_class(name)
    for field in cls.model_fields:
        if field in BASE_KEYS or field not in sdk.model_fields:
            continue
        mine, theirs = cls.model_fields[field], sdk.model_fields[field]
        assert mine.is_required() == theirs.is_required(), field
        if mine.is_required():
            continue
        sdk_default = theirs.get_default(call_default_factory=True)
        if (
            isinstance(sdk_default, Component)
            or type(sdk_default).__module__.startswith("pyagentspec")
            and hasattr(sdk_default, "component_type")
        ):
            continue  # a component default (the transforms' in-memory datastore)
        assert mine.get_default(call_default_factory=True) == _plain_default(sdk_default), field


@pytest.mark.parametrize("name", sorted(LOOM_CLASSES))
def test_sdk_sensitive_fields(name: str) -> None:
    sdk = sdk_class(name)
    from pyagentspec.sensitive_field import SENSITIVE_FIELD_MARKER

    marked = {
        f
        for f, info in sdk.model_fields.items()
        if SENSITIVE_FIELD_MARKER in info.metadata or SENSITIVE_FIELD_MARKER in str(info.annotation)
    }
    assert set(LOOM_CLASSES[name].sensitive_fields) == marked


@pytest.mark.parametrize("name", sorted(LOOM_CLASSES))
def test_sdk_abstract_and_min_version(name: str) -> None:
    cls, sdk = LOOM_CLASSES[name], sdk_class(name)
    assert cls.abstract == sdk._is_abstract
    sdk_min = sdk.model_fields["min_agentspec_version"].default.value
    if name == "LlmConfig":
        assert sdk_min == "25.4.1"  # the abstract base's version; a bare LlmConfig needs 26.1.2
    else:
        assert cls.min_agentspec_version == sdk_min


# Round trips: SDK object -> SDK dict -> loom -> dict -> SDK object -> same SDK dict.


def _sdk_samples() -> dict[str, Callable[[], Any]]:
    from pyagentspec._component_registry import BUILTIN_CLASS_MAP
    from pyagentspec.property import StringProperty as SP

    S: dict[str, Any] = dict(BUILTIN_CLASS_MAP)

    def v(**kw: Any) -> Any:
        return S["VllmConfig"](name="v", model_id="m", url="http://u", **kw)

    def oci_cc() -> Any:
        return S["OciClientConfigWithInstancePrincipal"](name="cc", service_endpoint="https://x")

    def ag(name: str = "a", **kw: Any) -> Any:
        return S["Agent"](name=name, llm_config=v(), system_prompt=kw.pop("p", "hi {{x}}"), **kw)

    def sse_(**kw: Any) -> Any:
        return S["SSETransport"](name="s", url="http://x", **kw)

    def rt(**kw: Any) -> Any:
        return S["RemoteTool"](name="t", url="http://{{a}}", http_method="GET", **kw)

    def oci(**kw: Any) -> Any:
        return S["OciGenAiConfig"](
            name="l", model_id="m", compartment_id="c", client_config=oci_cc(), **kw
        )

    cache: dict[str, Any] = {"cache_key": SP(title="cache_key")}
    entity = S["InMemoryCollectionDatastore"]
    from pyagentspec.property import ObjectProperty as OP

    client = lambda: S["OAuthClientConfig"](name="oc", type="pre_registered", client_id="cid")  # noqa: E731
    shared = ag("shared", p="x")
    return {
        "ServerTool": lambda: S["ServerTool"](
            name="t", inputs=[SP(title="a")], outputs=[SP(title="b")]
        ),
        "ServerTool confirm": lambda: S["ServerTool"](name="t", requires_confirmation=True),
        "ClientTool": lambda: S["ClientTool"](name="t"),
        "RemoteTool": lambda: rt(headers={"h": "{{b}}"}, query_params={"q": "{{c}}"}),
        "RemoteTool list data": lambda: rt(data=["{{d}}"]),
        "RemoteTool secret": lambda: rt(sensitive_headers={"Authorization": "x"}),
        "RemoteTool allow list": lambda: rt(url_allow_list=["http://x"]),
        "RemoteTool retry": lambda: rt(retry_policy={"max_attempts": 4, "jitter": None}),
        "BuiltinTool": lambda: S["BuiltinTool"](name="t", tool_type="x", executor_name=["a"]),
        "MCPTool": lambda: S["MCPTool"](
            name="t",
            client_transport=S["StdioTransport"](
                name="s", command="ls", args=["-l"], env={"A": "1"}
            ),
        ),
        "MCPToolBox": lambda: S["MCPToolBox"](
            name="b",
            client_transport=sse_(),
            tool_filter=["x", S["MCPToolSpec"](name="y", requires_confirmation=True)],
        ),
        "MCPToolBox confirm": lambda: S["MCPToolBox"](
            name="b", client_transport=sse_(), requires_confirmation=True
        ),
        "SSETransport": lambda: sse_(headers={"a": "b"}),
        "SSETransport secret": lambda: sse_(sensitive_headers={"a": "b"}),
        "SSETransport auth": lambda: sse_(
            auth=S["OAuthConfig"](
                name="oa",
                client=client(),
                redirect_uri="http://r",
                endpoints={"authorization_endpoint": "a", "token_endpoint": "t"},
                pkce={"method": "plain"},
                scope_policy="fixed",
                scopes=["a"],
            )
        ),
        "SSETransport retry": lambda: sse_(retry_policy={}),
        "SSEmTLSTransport": lambda: S["SSEmTLSTransport"](
            name="s", url="u", key_file="k", cert_file="c", ca_file="a"
        ),
        "StreamableHTTPTransport": lambda: S["StreamableHTTPTransport"](
            name="s", url="u", sensitive_headers={"k": "v"}, headers={"a": "b"}
        ),
        "StreamableHTTPmTLSTransport": lambda: S["StreamableHTTPmTLSTransport"](
            name="s", url="u", key_file="k", cert_file="c", ca_file="a"
        ),
        "LlmConfig": lambda: S["LlmConfig"](
            name="l",
            model_id="m",
            api_provider="x",
            default_generation_parameters={"temperature": 0.5},
        ),
        "OpenAiCompatibleConfig key": lambda: S["OpenAiCompatibleConfig"](
            name="l", model_id="m", url="u", api_key="k"
        ),
        "OpenAiCompatibleConfig responses": lambda: S["OpenAiCompatibleConfig"](
            name="l", model_id="m", url="u", api_type="responses"
        ),
        "VllmConfig cert": lambda: v(cert_file="c"),
        "VllmConfig retry": lambda: v(retry_policy={"max_attempts": 3}),
        "OllamaConfig": lambda: S["OllamaConfig"](name="l", model_id="m", url="u"),
        "DbmsVectorChainLlmConfig": lambda: S["DbmsVectorChainLlmConfig"](
            name="d", model_id="m", provider="openai", url="u", credential_name="C",
            transfer_timeout=30,
        ),
        "DbmsVectorChainLlmConfig local": lambda: S["DbmsVectorChainLlmConfig"](
            name="d", model_id="m", provider="ollama", url="u", host="local",
            connection_config=S["TlsOracleDatabaseConnectionConfig"](
                name="conn", user="u", password="p", dsn="d"
            ),
        ),
        "OpenAiConfig": lambda: S["OpenAiConfig"](name="l", model_id="m"),
        "OpenAiConfig key": lambda: S["OpenAiConfig"](name="l", model_id="m", api_key="k"),
        "OciGenAiConfig": lambda: oci(provider="META"),
        "OciGenAiConfig store": lambda: oci(conversation_store_id="s"),
        "OciGenAiConfig xai": lambda: oci(provider="XAI", serving_mode="DEDICATED"),
        "OciGenAiConfig api": lambda: oci(api_type="openai_chat_completions"),
        "GeminiConfig": lambda: S["GeminiConfig"](
            name="g",
            model_id="m",
            auth=S["GeminiVertexAIAuthConfig"](name="a", project_id="p", credentials={"k": "v"}),
        ),
        "GeminiConfig ai studio": lambda: S["GeminiConfig"](
            name="g",
            model_id="m",
            api_type="x",
            auth=S["GeminiAIStudioAuthConfig"](name="a", api_key="k"),
        ),
        "OciClientConfigWithApiKey": lambda: S["OciClientConfigWithApiKey"](
            name="c", service_endpoint="x", auth_profile="p", auth_file_location="f"
        ),
        "OciClientConfigWithSecurityToken": lambda: S["OciClientConfigWithSecurityToken"](
            name="c", service_endpoint="x", auth_profile="p", auth_file_location="f"
        ),
        "OciClientConfigWithResourcePrincipal": lambda: S["OciClientConfigWithResourcePrincipal"](
            name="c", service_endpoint="x"
        ),
        "Agent": lambda: ag(tools=[S["ServerTool"](name="t")], outputs=[SP(title="o")]),
        "Agent no hitl": lambda: ag(human_in_the_loop=False),
        "Agent toolboxes": lambda: ag(
            toolboxes=[S["MCPToolBox"](name="b", client_transport=sse_())]
        ),
        "Agent transforms": lambda: ag(
            transforms=[
                S["ConversationSummarizationTransform"](name="c", llm=v(), max_num_messages=20)
            ]
        ),
        "SpecializedAgent": lambda: S["SpecializedAgent"](
            name="s",
            agent=ag(),
            agent_specialization_parameters=S["AgentSpecializationParameters"](
                name="p", additional_instructions="{{y}}", human_in_the_loop=False
            ),
        ),
        "Swarm": lambda: S["Swarm"](
            name="s", first_agent=shared, handoff="always", relationships=[(shared, ag("b", p="x"))]
        ),
        "ManagerWorkers": lambda: S["ManagerWorkers"](
            name="m", group_manager=ag("m", p="x"), workers=[ag("w", p="x")]
        ),
        "OciAgent": lambda: S["OciAgent"](
            name="o",
            agent_endpoint_id="e",
            client_config=oci_cc(),
            retry_policy={"max_retry_delay": 3.0},
        ),
        "A2AAgent": lambda: S["A2AAgent"](
            name="a",
            agent_url="u",
            connection_config=S["A2AConnectionConfig"](name="c", headers={"a": "b"}, verify=False),
        ),
        "MessageSummarizationTransform": lambda: S["MessageSummarizationTransform"](
            name="m", llm=v(), max_cache_size=None
        ),
        "OracleDatabaseDatastore": lambda: S["OracleDatabaseDatastore"](
            name="d",
            datastore_schema={"c": OP(title="c", properties=cache)},
            connection_config=S["MTlsOracleDatabaseConnectionConfig"](
                name="o", user="u", password="p", dsn="d", wallet_location="w", wallet_password="wp"
            ),
        ),
        "OracleDatabaseDatastore tls": lambda: S["OracleDatabaseDatastore"](
            name="d",
            datastore_schema={"c": OP(title="c", properties=cache)},
            connection_config=S["TlsOracleDatabaseConnectionConfig"](
                name="o", user="u", password="p", dsn="d", protocol="tcp", config_dir="/x"
            ),
        ),
        "PostgresDatabaseDatastore": lambda: S["PostgresDatabaseDatastore"](
            name="d",
            datastore_schema={"c": OP(title="c", properties=cache)},
            connection_config=S["TlsPostgresDatabaseConnectionConfig"](
                name="p", user="u", password="p", url="x", sslmode="verify-full"
            ),
        ),
        "InMemoryCollectionDatastore": lambda: entity(
            name="d", datastore_schema={"c": OP(title="c", properties=cache)}
        ),
        "OAuthClientConfig": lambda: S["OAuthClientConfig"](
            name="oc", type="client_id_metadata_document", client_id_metadata_url="https://m"
        ),
    }


SDK_SAMPLE_NAMES = [
    "ServerTool",
    "ServerTool confirm",
    "ClientTool",
    "RemoteTool",
    "RemoteTool list data",
    "RemoteTool secret",
    "RemoteTool allow list",
    "RemoteTool retry",
    "BuiltinTool",
    "MCPTool",
    "MCPToolBox",
    "MCPToolBox confirm",
    "SSETransport",
    "SSETransport secret",
    "SSETransport auth",
    "SSETransport retry",
    "SSEmTLSTransport",
    "StreamableHTTPTransport",
    "StreamableHTTPmTLSTransport",
    "LlmConfig",
    "OpenAiCompatibleConfig key",
    "OpenAiCompatibleConfig responses",
    "VllmConfig cert",
    "VllmConfig retry",
    "DbmsVectorChainLlmConfig",
    "DbmsVectorChainLlmConfig local",
    "OllamaConfig",
    "OpenAiConfig",
    "OpenAiConfig key",
    "OciGenAiConfig",
    "OciGenAiConfig store",
    "OciGenAiConfig xai",
    "OciGenAiConfig api",
    "GeminiConfig",
    "GeminiConfig ai studio",
    "OciClientConfigWithApiKey",
    "OciClientConfigWithSecurityToken",
    "OciClientConfigWithResourcePrincipal",
    "Agent",
    "Agent no hitl",
    "Agent toolboxes",
    "Agent transforms",
    "SpecializedAgent",
    "Swarm",
    "ManagerWorkers",
    "OciAgent",
    "A2AAgent",
    "MessageSummarizationTransform",
    "OracleDatabaseDatastore",
    "OracleDatabaseDatastore tls",
    "PostgresDatabaseDatastore",
    "InMemoryCollectionDatastore",
    "OAuthClientConfig",
]


def _collect_definitions(data: Any, table: dict[str, Any]) -> None:
    if isinstance(data, dict):
        table.update(data.get("$referenced_components") or {})
        for value in data.values():
            _collect_definitions(value, table)
    elif isinstance(data, list):
        for value in data:
            _collect_definitions(value, table)


def loom_from_document(document: dict[str, Any]) -> Component:
    """A minimal reader for SDK-written documents (the real loader lives elsewhere)."""
    table: dict[str, Any] = {}
    _collect_definitions(document, table)
    built: dict[str, Any] = {}
    structural = {"component_type", "$referenced_components", "agentspec_version"}

    def build(value: Any) -> Any:
        if isinstance(value, list):
            return [build(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"$component_ref"}:
            key = value["$component_ref"]
            if key not in built:
                built[key] = build(table[key])
            return built[key]
        if "component_type" not in value:
            return {key: build(item) for key, item in value.items()}
        cls = COMPONENT_TYPES[value["component_type"]]
        unknown = set(value) - set(cls.model_fields) - structural
        assert unknown <= implied(cls), f"{cls.__name__} does not accept {unknown}"
        kwargs = {k: build(v) for k, v in value.items() if k in cls.model_fields}
        return cls(**kwargs)

    return build(document)


def _count_uses(value: Any, counts: Counter[str]) -> None:
    if isinstance(value, Component):
        counts[value.id] += 1
        if counts[value.id] == 1:
            for field in type(value).model_fields:
                _count_uses(getattr(value, field), counts)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _count_uses(item, counts)
    elif isinstance(value, dict):
        for item in value.values():
            _count_uses(item, counts)


def document_from_loom(root: Component, version: str) -> dict[str, Any]:
    """A minimal writer (the real one lives elsewhere): implied fields left out."""
    counts: Counter[str] = Counter()
    _count_uses(root, counts)
    hoisted: dict[str, Any] = {}

    def dump(value: Any, inline: bool = False) -> Any:
        if isinstance(value, Component):
            if counts[value.id] > 1 and not inline:
                if value.id not in hoisted:
                    hoisted[value.id] = None
                    hoisted[value.id] = dump(value, inline=True)
                return {"$component_ref": value.id}
            cls = type(value)
            out: dict[str, Any] = {"component_type": cls.__name__}
            for field in cls.model_fields:
                if field not in implied(cls):
                    out[field] = dump(getattr(value, field))
            return out
        if isinstance(value, Property):
            return value.to_dict()
        if isinstance(value, (list, tuple)):
            return [dump(item) for item in value]
        if isinstance(value, dict):
            return {key: dump(item) for key, item in value.items()}
        return value

    document = dump(root, inline=True)
    if hoisted:
        document["$referenced_components"] = hoisted
    document["agentspec_version"] = version
    return document


def loom_needed_version(root: Component) -> str:
    counts: Counter[str] = Counter()
    found: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, Component):
            counts[value.id] += 1
            if counts[value.id] == 1:
                found.extend(version for version, _ in value.feature_versions())
                for field in type(value).model_fields:
                    visit(getattr(value, field))
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    visit(root)
    return max(found, key=version_key)


@pytest.mark.parametrize("label", SDK_SAMPLE_NAMES)
def test_sdk_round_trip_and_version(label: str) -> None:
    _sdk()
    from pyagentspec.serialization import AgentSpecDeserializer, AgentSpecSerializer

    with warnings.catch_warnings():  # pyagentspec's own: sensitive fields included on purpose
        warnings.filterwarnings("ignore", "include_sensitive_fields=True", UserWarning)
        warnings.filterwarnings("ignore", "Sensitive field exported", UserWarning)
        original = _sdk_samples()[label]()
        serializer = AgentSpecSerializer()
        minimum = serializer.to_dict(original, include_sensitive_fields=True)["agentspec_version"]
        target = max(SDK_TARGET, minimum, key=version_key)
        written = serializer.to_dict(
            original, agentspec_version=sdk_version(target), include_sensitive_fields=True
        )
        component = loom_from_document(written)
        assert loom_needed_version(component) == minimum
        back = AgentSpecDeserializer().from_dict(document_from_loom(component, target))
        again = serializer.to_dict(
            back, agentspec_version=sdk_version(target), include_sensitive_fields=True
        )
    assert again == written


def test_sdk_samples_cover_every_concrete_class() -> None:
    _sdk()
    covered: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            if "component_type" in value:
                covered.add(value["component_type"])
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    from pyagentspec.serialization import AgentSpecSerializer

    for label in SDK_SAMPLE_NAMES:
        visit(AgentSpecSerializer().to_dict(_sdk_samples()[label]()))
    assert set(CONCRETE) <= covered
