"""The component load policy: allowed_components / blocked_components on load,
loads, load_registry and the Runtime, --allow-components / --block-components on
the CLI. The matching rule (subclasses match, the closest entry wins, a block wins
a tie) is checked against pyagentspec 26.3.1's own loader."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.cli import main
from loom.spec import transports

STDIO = {
    "component_type": "StdioTransport", "id": "t", "name": "local", "command": "mcp-server",
    "args": [], "env": {}, "cwd": None, "agentspec_version": "25.4.1",
}
SSE = {
    "component_type": "SSETransport", "id": "t", "name": "remote", "url": "https://mcp.example",
    "agentspec_version": "25.4.1",
}


def flow_with_a_stdio_tool() -> dict[str, Any]:
    """A flow whose MCPTool starts a local process: what the default block is for."""
    tool = {
        "component_type": "MCPTool", "id": "tool", "name": "now", "inputs": [],
        "outputs": [{"title": "time", "type": "string"}],
        "client_transport": {k: v for k, v in STDIO.items() if k != "agentspec_version"},
    }
    start = {"component_type": "StartNode", "id": "s", "name": "start"}
    node = {"component_type": "ToolNode", "id": "n", "name": "call", "tool": tool}
    end = {"component_type": "EndNode", "id": "e", "name": "end",
           "outputs": [{"title": "time", "type": "string"}]}
    return {
        "component_type": "Flow", "id": "f", "name": "clock", "start_node": {"$component_ref": "s"},
        "nodes": [{"$component_ref": x} for x in ("s", "n", "e")],
        "control_flow_connections": [
            {"component_type": "ControlFlowEdge", "id": "c1", "name": "c1",
             "from_node": {"$component_ref": "s"}, "to_node": {"$component_ref": "n"}},
            {"component_type": "ControlFlowEdge", "id": "c2", "name": "c2",
             "from_node": {"$component_ref": "n"}, "to_node": {"$component_ref": "e"}},
        ],
        "data_flow_connections": [
            {"component_type": "DataFlowEdge", "id": "d1", "name": "d1",
             "source_node": {"$component_ref": "n"}, "source_output": "time",
             "destination_node": {"$component_ref": "e"}, "destination_input": "time"},
        ],
        "$referenced_components": {"s": start, "n": node, "e": end},
        "agentspec_version": "25.4.1",
    }


def test_stdio_is_blocked_by_default_naming_the_component_and_the_flag() -> None:
    with pytest.raises(loom.LoadError) as info:
        loom.loads(json.dumps(flow_with_a_stdio_tool()), source="clock.json")
    message = info.value.describe()
    assert message.startswith("StdioTransport 'local' (id t): StdioTransport is blocked by "
                              "default: it starts a local process named by the file")
    assert "$['$referenced_components'].n.tool.client_transport" in message
    assert "--allow-components StdioTransport" in message
    assert "allowed_components=['StdioTransport']" in message


@pytest.mark.parametrize("allowed", ["StdioTransport", ["ClientTransport"], transports.StdioTransport])
def test_an_allow_entry_lifts_the_default_block(allowed: Any) -> None:
    flow = loom.loads(json.dumps(flow_with_a_stdio_tool()), allowed_components=allowed)
    assert flow.name == "clock"


def test_the_allow_list_is_no_whitelist() -> None:
    """Unlike pyagentspec's, types it does not name still load."""
    assert loom.loads(json.dumps(SSE), allowed_components=["StdioTransport"]).name == "remote"


def test_a_block_entry_names_the_entry_that_matched() -> None:
    with pytest.raises(loom.LoadError) as info:
        loom.loads(json.dumps(SSE), blocked_components=["RemoteTransport"])
    assert "SSETransport is in the block list (as a RemoteTransport)" in str(info.value)
    assert "remove RemoteTransport from --block-components" in str(info.value)


def test_an_unknown_type_name_is_refused() -> None:
    with pytest.raises(loom.LoadError, match="allowed_components: 'StdoiTransport' is not a "
                       "component type"):
        loom.loads(json.dumps(SSE), allowed_components="StdoiTransport")
    with pytest.raises(loom.LoadError, match="blocked_components: int is not a component type"):
        loom.loads(json.dumps(SSE), blocked_components=[3])  # type: ignore[list-item]


# (allowed, blocked) pairs where both lists name an ancestor of the loaded type: the
# closest wins, block on a tie.
RULE_CASES = [
    (["StdioTransport"], ["ClientTransport"]),
    (["ClientTransport"], ["StdioTransport"]),
    (["StdioTransport"], ["StdioTransport"]),
    (["Component"], ["ClientTransport"]),
    (["ClientTransport"], ["Component"]),
    (["SSETransport"], ["RemoteTransport"]),
    (["RemoteTransport"], ["SSETransport"]),
    (["RemoteTransport", "Component"], ["ClientTransport"]),
]


def _sdk_verdict(doc: dict[str, Any], allowed: list[str], blocked: list[str]) -> bool:
    serialization = pytest.importorskip("pyagentspec.serialization")
    loader = serialization.AgentSpecDeserializer(
        allowed_components=allowed, blocked_components=blocked
    )
    try:
        loader.from_json(json.dumps(doc))
    except ValueError as exc:
        assert "list" in str(exc)
        return False
    return True


def _loom_verdict(doc: dict[str, Any], allowed: list[str], blocked: list[str]) -> bool:
    try:
        loom.loads(json.dumps(doc), allowed_components=allowed, blocked_components=blocked)
    except loom.LoadError as exc:
        assert "block" in str(exc)
        return False
    return True


def _sdk_allows_the_rest(doc: dict[str, Any], allowed: list[str]) -> bool:
    """pyagentspec's allow list refuses every type it does not name: compare only where
    it names one of ``doc``'s type or ancestors."""
    ancestors = {"Component", "ClientTransport", doc["component_type"]}
    if doc is SSE:
        ancestors.add("RemoteTransport")
    return bool(ancestors & set(allowed))


@pytest.mark.parametrize(("doc", "allowed", "blocked"), [
    pytest.param(doc, allowed, blocked, id=f"{doc['component_type']}-{allowed}-{blocked}")
    for doc in (STDIO, SSE) for allowed, blocked in RULE_CASES
    if _sdk_allows_the_rest(doc, allowed)
])
def test_the_closest_match_wins_as_in_pyagentspec(
    doc: dict[str, Any], allowed: list[str], blocked: list[str]
) -> None:
    assert _loom_verdict(doc, allowed, blocked) == _sdk_verdict(doc, allowed, blocked)


def test_the_runtime_applies_its_policy_to_what_it_loads() -> None:
    text = json.dumps(flow_with_a_stdio_tool())
    with pytest.raises(loom.LoadError, match="StdioTransport is blocked by default"):
        loom.Runtime(use_env=False).load(text)
    flow = loom.Runtime(use_env=False, allowed_components=["StdioTransport"]).load(text)
    assert flow.name == "clock"
    with pytest.raises(loom.LoadError, match="'Nope' is not a component type"):
        loom.Runtime(blocked_components=["Nope"])


def test_registries_follow_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"$referenced_components": {"t": STDIO}}))
    with pytest.raises(loom.LoadError, match="blocked by default"):
        loom.load_registry(path)
    assert "t" in loom.load_registry(path, allowed_components="StdioTransport")


@pytest.fixture
def clock_file(tmp_path: Path) -> Path:
    path = tmp_path / "clock.json"
    path.write_text(json.dumps(flow_with_a_stdio_tool()))
    return path


def test_validate_takes_the_flags(clock_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(clock_file)]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out and "--allow-components StdioTransport" in out
    assert main(["validate", str(clock_file), "--allow-components", "StdioTransport"]) == 0
    assert capsys.readouterr().out.startswith(f"OK {clock_file}")
    args = ["validate", str(clock_file), "--allow-components", "ClientTransport,Flow",
            "--block-components", "StdioTransport"]
    assert main(args) == 1
    assert "StdioTransport is in the block list" in capsys.readouterr().out
    assert main(["validate", str(clock_file), "--block-components", "Nope"]) == 1
    assert "'Nope' is not a component type" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "chat"])
def test_run_and_chat_refuse_stdio_until_allowed(
    command: str, clock_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([command, str(clock_file)]) == 2
    assert "--allow-components StdioTransport" in capsys.readouterr().err


def test_every_loading_command_has_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("validate", "run", "resume", "chat"):
        assert main([command, "--help"]) == 0
        text = capsys.readouterr().out
        assert "--allow-components NAME[,NAME...]" in text, command
        assert "--block-components NAME[,NAME...]" in text, command
