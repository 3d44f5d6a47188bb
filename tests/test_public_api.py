"""The public surface: every package's exported names, pinned, and static enough for mypy.

A name added to or removed from an ``__all__`` must be added to or removed from
this list too, on purpose: it is a change of loom's API.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "loom"

EXPECTED: dict[str, list[str]] = {
    "loom": [
        "BranchTimeout", "CheckpointError", "GraphError", "LlmConnectionError", "LlmError",
        "LlmHttpError",
        "LlmResponseError", "LlmTimeoutError", "LoadError", "LoomError", "LoomWarning",
        "MissingDependency", "NodeFailure", "PlanError", "RunError", "RunNotFound", "RunResult",
        "RunTakenOver", "Runtime", "SpecError", "TimelineError", "VersionError", "VersionWarning", "dump", "dumps",
        "inline", "load", "load_registry", "loads", "spec", "to_dict",
    ],
    "loom.spec": [
        "COMPONENT_TYPES", "NEXT", "A2AAgent", "A2AConnectionConfig", "Agent", "AgentNode",
        "AgentSpecializationParameters", "AgenticComponent", "AnyProperty", "ApiNode",
        "AuthConfig", "BooleanProperty", "BranchingNode", "BuiltinTool", "CatchExceptionNode",
        "ClientTool", "ClientTransport", "Component", "ComponentWithIO", "ControlFlowEdge",
        "ConversationSummarizationTransform", "DataFlowEdge", "Datastore",
        "DbmsVectorChainLlmConfig", "DictProperty", "EndNode", "FloatProperty", "Flow", "FlowNode", "GeminiAIStudioAuthConfig",
        "GeminiAuthConfig", "GeminiConfig", "GeminiVertexAIAuthConfig",
        "InMemoryCollectionDatastore", "InputMessageNode", "IntegerProperty", "ListProperty",
        "LlmConfig", "LlmNode", "MCPTool", "MCPToolBox", "MCPToolSpec",
        "MTlsOracleDatabaseConnectionConfig", "ManagerWorkers", "MapNode",
        "MessageSummarizationTransform", "MessageTransform", "Node", "NullProperty",
        "NumberProperty", "OAuthClientConfig", "OAuthConfig", "ObjectProperty", "OciAgent",
        "OciClientConfig", "OciClientConfigWithApiKey", "OciClientConfigWithInstancePrincipal",
        "OciClientConfigWithResourcePrincipal", "OciClientConfigWithSecurityToken",
        "OciGenAiConfig", "OllamaConfig", "OpenAiCompatibleConfig", "OpenAiConfig",
        "OracleDatabaseConnectionConfig", "OracleDatabaseDatastore", "OutputMessageNode",
        "ParallelFlowNode", "ParallelMapNode", "PostgresDatabaseConnectionConfig",
        "PostgresDatabaseDatastore", "Property", "RelationalDatastore", "RemoteAgent",
        "RemoteTool", "RemoteTransport", "SSETransport", "SSEmTLSTransport", "ServerTool",
        "SpecializedAgent", "StartNode", "StdioTransport", "StreamableHTTPTransport",
        "StreamableHTTPmTLSTransport", "StringProperty", "Swarm",
        "TlsOracleDatabaseConnectionConfig", "TlsPostgresDatabaseConnectionConfig", "Tool",
        "ToolBox", "ToolNode", "UnionProperty", "VllmConfig",
    ],
    "loom.spec.nodes": [
        "NEXT", "AgentNode", "ApiNode", "BranchingNode", "CatchExceptionNode", "EndNode",
        "FlowNode", "InputMessageNode", "LlmNode", "MapNode", "Node", "OutputMessageNode",
        "ParallelFlowNode", "ParallelMapNode", "StartNode", "ToolNode",
    ],
    "loom.serialization": [
        "dump", "dumps", "load", "load_document", "load_registry", "load_registry_document",
        "loads", "to_dict",
    ],
    "loom.runtime": ["ErrorInfo", "RunResult", "Runtime", "inline"],
    "loom.llm": [
        "DEFAULT_TIMEOUT", "LlmClient", "LlmEndpoint", "LlmOverrides", "LlmResponse",
        "RetryPolicy", "TokenCallback", "ToolCall", "aclose_shared_http_client", "apply_overrides",
        "chat_completions_url", "new_http_client", "overrides_from_env", "shared_http_client",
    ],
    "loom.stores": [
        "CheckpointStore", "MemoryStore", "PostgresStore", "RunSummary", "SqliteStore",
        "default_store_url", "open_store", "store_opener",
    ],
    "loom.observability": [
        "MASK", "REDACTED", "Scrubber", "Span", "SpanBuilder", "SpanCollector", "SpanEvent",
        "SpanProcessor", "TraceFile", "TraceFileWriter", "read_trace", "secrets_of", "to_jsonable",
    ],
    "loom.a2a": ["A2ARunner", "A2ASession", "RemoteError", "RemoteTimeout", "Snapshot"],
    "loom.mcp": [
        "STARTUP_TIMEOUT", "McpToolError", "Sessions", "call_tool", "list_tools", "require_sdk", "result_value",
        "select",
    ],
    "loom.server": ["ROUTE_MODULES", "ServerConfig", "create_app"],
    "loom.local": [
        "DETERMINISTIC", "INSTALL", "MODEL_NAME", "TOOLS_CHAT_FORMAT", "LocalLlm", "available",
        "check_server", "model_file",
    ],
    "loom.testing": [
        "Failure", "FailureKind", "FakeLlmServer", "RecordedRequest", "Reply", "ScriptedToolCall",
        "ToolCallsReply", "fake_instance", "serve_asgi",
    ],
}


@pytest.mark.parametrize("package", sorted(EXPECTED))
def test_exported_names_are_pinned(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(EXPECTED[package])
    assert len(set(module.__all__)) == len(module.__all__), "a name is exported twice"
    for name in module.__all__:
        assert getattr(module, name) is not None


def _bound_names(tree: ast.Module) -> set[str]:
    """Names a module binds with statements a type checker reads (imports, defs, assignments)."""
    bound: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                assert alias.name != "*", "import * hides the names from readers"
                bound.add(alias.asname or alias.name.partition(".")[0])
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(stmt.name)
        elif isinstance(stmt, ast.Assign):
            bound.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            bound.add(stmt.target.id)
    return bound


def _literal_all(tree: ast.Module, where: str) -> list[str]:
    found = [
        stmt.value for stmt in tree.body
        if isinstance(stmt, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in stmt.targets)
    ]
    assert len(found) == 1, f"{where}: no single `__all__ = [...]`"
    value = found[0]
    assert isinstance(value, ast.List), f"{where}: __all__ is not a list literal"
    names = []
    for item in value.elts:
        assert isinstance(item, ast.Constant) and isinstance(item.value, str), (
            f"{where}: __all__ holds something other than string literals"
        )
        names.append(item.value)
    return names


def _is_namespace(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id in ("globals", "vars", "locals")
    )


INIT_FILES = sorted(SRC.rglob("__init__.py"))


@pytest.mark.parametrize("init", INIT_FILES, ids=lambda p: str(p.parent.relative_to(SRC.parent)))
def test_every_package_exports_statically(init: Path) -> None:
    """No namespace filled at run time: each exported name is bound by a statement mypy reads."""
    where = str(init.relative_to(SRC.parent))
    tree = ast.parse(init.read_text(), filename=where)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Subscript)) and _is_namespace(node.value):
            assert not isinstance(node, ast.Subscript) or isinstance(node.ctx, ast.Load), where
            assert not isinstance(node, ast.Attribute) or node.attr in ("get", "items"), (
                f"{where}: globals().{node.attr}"
            )
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "setattr", f"{where}: setattr()"
    assert "__getattr__" not in _bound_names(tree), f"{where}: a module __getattr__"
    names = _literal_all(tree, where)
    unbound = [name for name in names if name not in _bound_names(tree)]
    assert not unbound, f"{where}: exported but not bound by a static statement: {unbound}"
    package = ".".join(init.parent.relative_to(SRC.parent).parts)
    module = importlib.import_module(package)
    assert list(module.__all__) == names


def test_wheel_marks_loom_typed() -> None:
    assert (SRC / "py.typed").is_file()


USER_SCRIPT = '''
import loom
from loom.spec import (
    ControlFlowEdge, DataFlowEdge, EndNode, Flow, ServerTool, StartNode, StringProperty, ToolNode,
)
from loom.stores import SqliteStore

username = StringProperty(title="username")
info = StringProperty(title="info")
tool = ServerTool(name="get_user", inputs=[username], outputs=[info])
start = StartNode(name="start", inputs=[username])
call = ToolNode(name="call", tool=tool)
end = EndNode(name="end", outputs=[info])
flow = Flow(
    name="f", start_node=start, nodes=[start, call, end],
    control_flow_connections=[
        ControlFlowEdge(name="a", from_node=start, to_node=call),
        ControlFlowEdge(name="b", from_node=call, to_node=end),
    ],
    data_flow_connections=[
        DataFlowEdge(name="c", source_node=start, source_output="username",
                     destination_node=call, destination_input="username"),
        DataFlowEdge(name="d", source_node=call, source_output="info",
                     destination_node=end, destination_input="info"),
    ],
)
text: str = loom.dumps(flow)
runtime = loom.Runtime(tools={"get_user": lambda username: username}, store=SqliteStore("x"))
try:
    result: loom.RunResult = runtime.run(flow, {"username": "alice"})
except (loom.RunTakenOver, loom.LoomError):
    pass
not_an_int: int = loom.Runtime()
'''


def test_mypy_strict_follows_the_public_surface(tmp_path: Path) -> None:
    """A user's script type-checks against loom's names; the one planted mistake is found,
    so the types are followed (not read as Any, not skipped for a missing py.typed)."""
    (tmp_path / "user.py").write_text(textwrap.dedent(USER_SCRIPT))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--python-version", "3.10",
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", "user.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=110,
    )
    planted = textwrap.dedent(USER_SCRIPT).splitlines().index("not_an_int: int = loom.Runtime()")
    assert done.stdout.strip().splitlines() == [
        f'user.py:{planted + 1}: error: Incompatible types in assignment (expression has type '
        '"Runtime", variable has type "int")  [assignment]'
    ], done.stdout + done.stderr


def test_readme_layout_matches_the_tree() -> None:
    """Every entry of the README's layout exists, and every package of src/loom is in it."""
    root = SRC.parents[1]
    readme = (root / "README.md").read_text()
    block = readme.split("## Layout\n", 1)[1].split("```\n", 2)[1]
    listed: set[str] = set()
    under = ""
    for line in block.splitlines():
        if line.startswith("   "):
            continue  # the description of the entry above goes on
        entry = line.split()[0]
        if not line.startswith(" "):
            under = entry if entry == "src/loom/" else ""
            listed.add(entry.rstrip("/"))
        else:
            listed.add((under + entry).rstrip("/"))
    missing = sorted(entry for entry in listed if not (root / entry).exists())
    assert not missing, f"the README's layout lists what is not in the tree: {missing}"
    packages = {
        str(init.parent.relative_to(root)) for init in SRC.rglob("__init__.py")
    }
    assert not packages - listed, f"packages missing from the README's layout: {packages - listed}"
