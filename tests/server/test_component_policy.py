"""`loom serve` takes the component load policy of `loom run`: StdioTransport (it
starts a local process named by the file) stays blocked unless the operator allows
it, and a served directory holding a blocked component refuses to start, naming
the file, the component and the flag."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from loom.errors import LoadError
from loom.server import ServerConfig, create_app
from loom.spec import Flow, MCPTool, ServerTool, StdioTransport, ToolNode

from .helpers import ServerProcess, chain, prop, tool_flow, write_configs

OWN_MCP_SERVER = Path(__file__).parents[1] / "mcp" / "own_server.py"


def stdio_flow(log: Path) -> Flow:
    """One MCP tool (``add``) over stdio: the test MCP server, started by the flow."""
    transport = StdioTransport(name="own", command=sys.executable,
                               args=[str(OWN_MCP_SERVER), str(log), "stdio"])
    tool = MCPTool(name="add", client_transport=transport,
                   inputs=[prop("a", "integer"), prop("b", "integer")],
                   outputs=[prop("sum", "integer")])
    return chain("adder", ToolNode(name="add", tool=tool),
                 inputs=[prop("a", "integer"), prop("b", "integer")],
                 outputs=[prop("sum", "integer")])


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    return write_configs(tmp_path / "configs", adder=stdio_flow(tmp_path / "mcp.log"),
                         echo=tool_flow("echo", "echo", inputs=[prop("x")], outputs=[prop("y")]))


def serve(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    loom = str(Path(sys.executable).parent / "loom")
    return subprocess.run([loom, "serve", *args, "--port", "0"], capture_output=True,
                          text=True, timeout=timeout)


def test_serve_refuses_to_start_on_a_config_with_a_stdio_transport(configs: Path,
                                                                    tmp_path: Path) -> None:
    done = serve([str(configs), "--store", f"sqlite:///{tmp_path}/s.sqlite3"])
    assert done.returncode != 0
    assert "adder.json" in done.stderr and "StdioTransport" in done.stderr
    assert "--allow-components StdioTransport" in done.stderr
    assert "Traceback" not in done.stderr


def test_create_app_refuses_it_too_unless_its_config_allows_it(configs: Path,
                                                               tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/s.sqlite3"
    with pytest.raises(LoadError, match="StdioTransport is blocked by default") as caught:
        create_app(config=ServerConfig(directory=configs, store_url=store))
    assert "adder.json" in str(caught.value)
    blocked = ServerConfig(directory=configs, store_url=store, tools={"echo": lambda x: x},
                           allowed_components=["StdioTransport"],
                           blocked_components=["ServerTool"])
    with pytest.raises(LoadError, match="ServerTool is in the block list") as caught:
        create_app(config=blocked)
    assert "echo.json" in str(caught.value)


def test_allowed_stdio_transport_is_served_and_runs_over_http(configs: Path,
                                                              tmp_path: Path) -> None:
    tools = tmp_path / "tools.py"
    tools.write_text("def echo(x: str) -> str:\n    return x\n")
    server = ServerProcess([str(configs), "--store", f"sqlite:///{tmp_path}/s.sqlite3",
                            "--tools", str(tools), "--allow-components", "StdioTransport"])
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            listed = client.get("/v1/components").json()["data"]
            assert sorted(c["id"] for c in listed) == ["adder", "echo"]
            run = client.post("/v1/components/adder/runs", params={"wait": 20},
                              json={"inputs": {"a": 2, "b": 3}}).json()
            assert run["status"] == "finished", run
            assert run["outputs"] == {"sum": 5}
    finally:
        server.stop()
    assert server.process.returncode is not None


def test_block_components_on_the_command_line_refuses_the_type(tmp_path: Path) -> None:
    tool = ServerTool(name="echo", inputs=[prop("x")], outputs=[prop("y")])
    directory = write_configs(tmp_path / "only", echo=chain(
        "echo", ToolNode(name="echo", tool=tool), inputs=[prop("x")], outputs=[prop("y")]))
    tools = tmp_path / "tools.py"
    tools.write_text("def echo(x: str) -> str:\n    return x\n")
    done = serve([str(directory), "--store", f"sqlite:///{tmp_path}/s.sqlite3",
                  "--tools", str(tools), "--block-components", "ServerTool"])
    assert done.returncode != 0
    assert "echo.json" in done.stderr and "ServerTool is in the block list" in done.stderr, done.stderr
