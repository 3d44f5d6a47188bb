"""The remote transports against the test server: headers and sensitive headers, mutual
TLS with a throwaway CA (trustme), and one session per run over HTTP too."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from mcp_support import OWN_SERVER, free_port, log_lines, serving, tool_flow

from loom.spec import (
    MCPTool,
    SSEmTLSTransport,
    SSETransport,
    StreamableHTTPmTLSTransport,
    StreamableHTTPTransport,
    ToolNode,
)
from runtime.conftest import linear_flow, prop, props, runtime

PATHS = {"sse": "/sse", "http": "/mcp"}


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A CA, the server's certificate for 127.0.0.1, a client's and a stranger's."""
    folder = tmp_path_factory.mktemp("tls")
    ca, other_ca = trustme.CA(), trustme.CA()
    files: dict[str, str] = {"ca": str(folder / "ca.pem")}
    ca.cert_pem.write_to_path(files["ca"])
    for name, issuer in (("server", ca), ("client", ca), ("stranger", other_ca)):
        cert = issuer.issue_cert("127.0.0.1", "localhost")
        files[f"{name}_cert"] = str(folder / f"{name}.pem")
        files[f"{name}_key"] = str(folder / f"{name}.key")
        for blob in cert.cert_chain_pems:
            blob.write_to_path(files[f"{name}_cert"], append=True)
        cert.private_key_pem.write_to_path(files[f"{name}_key"])
    return files


@pytest.fixture(scope="module", params=["sse", "http"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, str, Path]]:
    """(kind, url, log) of the test server over plain HTTP."""
    log = tmp_path_factory.mktemp("plain") / "server.log"
    port = free_port()
    with serving([sys.executable, str(OWN_SERVER), str(log), request.param, str(port)], port):
        yield request.param, f"http://127.0.0.1:{port}{PATHS[request.param]}", log


@pytest.fixture(scope="module", params=["sse", "http"])
def served_tls(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               certificates: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(kind, url) of the test server over HTTPS that requires a client certificate."""
    log = tmp_path_factory.mktemp("tls") / "server.log"
    port = free_port()
    tls = [certificates["server_cert"], certificates["server_key"], certificates["ca"]]
    command = [sys.executable, str(OWN_SERVER), str(log), request.param, str(port), *tls]
    with serving(command, port):
        yield request.param, f"https://127.0.0.1:{port}{PATHS[request.param]}"


def test_headers_and_sensitive_headers_reach_the_server(served: tuple[str, str, Path]
                                                        ) -> None:
    kind, url, _ = served
    cls = SSETransport if kind == "sse" else StreamableHTTPTransport
    transport = cls(name="own", url=url, headers={"X-Team": "loom"},
                    sensitive_headers={"X-Token": "s3cret"})
    tool = MCPTool(name="headers", client_transport=transport,
                   outputs=[prop("seen", "object")])
    result = runtime().run(tool_flow(tool), {})
    assert result.status == "finished", result.error
    assert result.outputs["seen"] == {"x-team": "loom", "x-token": "s3cret"}


def test_one_session_per_run_over_http(served: tuple[str, str, Path]) -> None:
    kind, url, log = served
    cls = SSETransport if kind == "sse" else StreamableHTTPTransport
    nodes = []
    for label in ("a", "b", "c"):
        tool = MCPTool(name="count", client_transport=cls(name="own", url=url),
                       inputs=[prop("label", default=label)], outputs=[prop(f"said_{label}")])
        nodes.append(ToolNode(name=f"count_{label}", tool=tool))
    before = len(log_lines(log, "session"))
    result = runtime().run(linear_flow("thrice", *nodes))
    assert result.status == "finished", result.error
    sessions = log_lines(log, "session")[before:]
    assert len(sessions) == 3 and len(set(sessions)) == 1  # three calls, one session


@pytest.mark.parametrize("policy", [{"max_attempts": 3, "initial_retry_delay": 0.01,
                                     "max_retry_delay": 0.05}, None])
def test_the_transports_retry_policy_retries_a_busy_server(
    served: tuple[str, str, Path], policy: dict | None
) -> None:
    kind, url, log = served
    cls = SSETransport if kind == "sse" else StreamableHTTPTransport
    label = f"{kind}-{bool(policy)}"
    transport = cls(name="own", url=url, headers={"X-Busy-First": label}, retry_policy=policy)
    tool = MCPTool(name="add", client_transport=transport, inputs=props(a="integer", b="integer"),
                   outputs=[prop("total", "integer")])
    result = runtime().run(tool_flow(tool, node="busy_add"), {"a": 1, "b": 1})
    if policy:
        assert result.status == "finished", result.error
        assert result.outputs == {"total": 2}
        assert log_lines(log, f"busy {label}") == [f"busy {label}"] * 2
    else:
        assert result.status == "failed"
        assert "ToolNode 'busy_add'" in result.error.message
        assert "MCP server 'own'" in result.error.message


def mtls(kind: str, url: str, files: dict[str, str], who: str = "client"
         ) -> SSEmTLSTransport | StreamableHTTPmTLSTransport:
    cls = SSEmTLSTransport if kind == "sse" else StreamableHTTPmTLSTransport
    return cls(name="secure", url=url, key_file=files[f"{who}_key"],
               cert_file=files[f"{who}_cert"], ca_file=files["ca"])


def test_mutual_tls(served_tls: tuple[str, str], certificates: dict[str, str]) -> None:
    kind, url = served_tls
    tool = MCPTool(name="add", client_transport=mtls(kind, url, certificates),
                   inputs=props(a="integer", b="integer"), outputs=[prop("total", "integer")])
    result = runtime().run(tool_flow(tool), {"a": 20, "b": 22})
    assert result.status == "finished", result.error
    assert result.outputs == {"total": 42}


def test_mutual_tls_refuses_a_certificate_of_another_ca(
    served_tls: tuple[str, str], certificates: dict[str, str]
) -> None:
    kind, url = served_tls
    tool = MCPTool(name="add", client_transport=mtls(kind, url, certificates, "stranger"),
                   inputs=props(a="integer", b="integer"), outputs=[prop("total", "integer")])
    result = runtime().run(tool_flow(tool, node="secure_add"), {"a": 1, "b": 2})
    assert result.status == "failed"
    assert "ToolNode 'secure_add'" in result.error.message
    assert "MCP server 'secure'" in result.error.message
