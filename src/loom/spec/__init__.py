"""The Agent Spec language as typed models: pure data, no execution."""

from __future__ import annotations

from loom.spec.agents import (
    Agent,
    AgentSpecializationParameters,
    ManagerWorkers,
    SpecializedAgent,
    Swarm,
)
from loom.spec.auth import AuthConfig, OAuthClientConfig, OAuthConfig
from loom.spec.component import COMPONENT_TYPES, AgenticComponent, Component, ComponentWithIO
from loom.spec.datastores import (
    Datastore,
    InMemoryCollectionDatastore,
    MTlsOracleDatabaseConnectionConfig,
    OracleDatabaseConnectionConfig,
    OracleDatabaseDatastore,
    PostgresDatabaseConnectionConfig,
    PostgresDatabaseDatastore,
    RelationalDatastore,
    TlsOracleDatabaseConnectionConfig,
    TlsPostgresDatabaseConnectionConfig,
)
from loom.spec.flows.edges import ControlFlowEdge, DataFlowEdge
from loom.spec.flows.flow import Flow
from loom.spec.llms import (
    DbmsVectorChainLlmConfig,
    GeminiAIStudioAuthConfig,
    GeminiAuthConfig,
    GeminiConfig,
    GeminiVertexAIAuthConfig,
    LlmConfig,
    OciClientConfig,
    OciClientConfigWithApiKey,
    OciClientConfigWithInstancePrincipal,
    OciClientConfigWithResourcePrincipal,
    OciClientConfigWithSecurityToken,
    OciGenAiConfig,
    OllamaConfig,
    OpenAiCompatibleConfig,
    OpenAiConfig,
    VllmConfig,
)
from loom.spec.nodes import (
    NEXT,
    AgentNode,
    ApiNode,
    BranchingNode,
    CatchExceptionNode,
    EndNode,
    FlowNode,
    InputMessageNode,
    LlmNode,
    MapNode,
    Node,
    OutputMessageNode,
    ParallelFlowNode,
    ParallelMapNode,
    StartNode,
    ToolNode,
)
from loom.spec.property import (
    AnyProperty,
    BooleanProperty,
    DictProperty,
    FloatProperty,
    IntegerProperty,
    ListProperty,
    NullProperty,
    NumberProperty,
    ObjectProperty,
    Property,
    StringProperty,
    UnionProperty,
)
from loom.spec.remote_agents import A2AAgent, A2AConnectionConfig, OciAgent, RemoteAgent
from loom.spec.tools import (
    BuiltinTool,
    ClientTool,
    MCPTool,
    MCPToolBox,
    MCPToolSpec,
    RemoteTool,
    ServerTool,
    Tool,
    ToolBox,
)
from loom.spec.transforms import (
    ConversationSummarizationTransform,
    MessageSummarizationTransform,
    MessageTransform,
)
from loom.spec.transports import (
    ClientTransport,
    RemoteTransport,
    SSEmTLSTransport,
    SSETransport,
    StdioTransport,
    StreamableHTTPmTLSTransport,
    StreamableHTTPTransport,
)


def _rebuild_models() -> None:
    """Resolve the forward references between families (nodes <-> flows <-> agents)."""
    namespace = dict(globals())
    for value in namespace.values():
        if isinstance(value, type) and issubclass(value, Component):
            value.model_rebuild(_types_namespace=namespace)


_rebuild_models()

__all__ = [
    "COMPONENT_TYPES", "NEXT", "A2AAgent", "A2AConnectionConfig", "Agent", "AgentNode",
    "AgentSpecializationParameters", "AgenticComponent", "AnyProperty", "ApiNode", "AuthConfig",
    "BooleanProperty", "BranchingNode", "BuiltinTool", "CatchExceptionNode", "ClientTool",
    "ClientTransport", "Component", "ComponentWithIO", "ControlFlowEdge",
    "ConversationSummarizationTransform", "DataFlowEdge", "Datastore", "DbmsVectorChainLlmConfig",
    "DictProperty", "EndNode", "FloatProperty", "Flow", "FlowNode", "GeminiAIStudioAuthConfig", "GeminiAuthConfig",
    "GeminiConfig", "GeminiVertexAIAuthConfig", "InMemoryCollectionDatastore", "InputMessageNode",
    "IntegerProperty", "ListProperty", "LlmConfig", "LlmNode", "MCPTool", "MCPToolBox",
    "MCPToolSpec", "MTlsOracleDatabaseConnectionConfig", "ManagerWorkers", "MapNode",
    "MessageSummarizationTransform", "MessageTransform", "Node", "NullProperty", "NumberProperty",
    "OAuthClientConfig", "OAuthConfig", "ObjectProperty", "OciAgent", "OciClientConfig",
    "OciClientConfigWithApiKey", "OciClientConfigWithInstancePrincipal",
    "OciClientConfigWithResourcePrincipal", "OciClientConfigWithSecurityToken", "OciGenAiConfig",
    "OllamaConfig", "OpenAiCompatibleConfig", "OpenAiConfig", "OracleDatabaseConnectionConfig",
    "OracleDatabaseDatastore", "OutputMessageNode", "ParallelFlowNode", "ParallelMapNode",
    "PostgresDatabaseConnectionConfig", "PostgresDatabaseDatastore", "Property",
    "RelationalDatastore", "RemoteAgent", "RemoteTool", "RemoteTransport", "SSETransport",
    "SSEmTLSTransport", "ServerTool", "SpecializedAgent", "StartNode", "StdioTransport",
    "StreamableHTTPTransport", "StreamableHTTPmTLSTransport", "StringProperty", "Swarm",
    "TlsOracleDatabaseConnectionConfig", "TlsPostgresDatabaseConnectionConfig", "Tool", "ToolBox",
    "ToolNode", "UnionProperty", "VllmConfig",
]
