"""A2AAgent in flows and on its own, against a real a2a-sdk server (conftest.py):
completed, input-required then answered (also after a process dies), failed,
rejected, timed out, cancelled, a 0.3-only card."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.observability import SpanBuilder, SpanCollector
from loom.spec import ControlFlowEdge, EndNode, Flow, StartNode
from loom.spec.nodes import AgentNode
from loom.spec.property import Property
from loom.spec.remote_agents import A2AAgent, A2AConnectionConfig
from loom.stores import SqliteStore
from runtime.conftest import prop

from .conftest import A2AServer, Certificates, serve

_runtimes: list[loom.Runtime] = []


@pytest.fixture(autouse=True)
def _close_runtimes() -> Iterator[None]:
    yield
    while _runtimes:
        _runtimes.pop().close()


def runtime(**options: Any) -> loom.Runtime:
    rt = loom.Runtime(use_env=False, **options)
    _runtimes.append(rt)
    return rt


def remote(url: str, outputs: list[Property] | None = None, **session: Any) -> A2AAgent:
    return A2AAgent(
        name="colours", agent_url=url, inputs=[prop("request")],
        outputs=outputs if outputs is not None else [prop("result")],
        connection_config=A2AConnectionConfig(name="conn", timeout=10.0),
        session_parameters={"timeout": 10.0, "poll_interval": 0.05, "max_retries": 1,
                            **session},
    )


def flow_of(agent: A2AAgent) -> Flow:
    """start(request) -> pick (the A2A agent) -> end(the agent's outputs)."""
    start = StartNode(name="start", inputs=[prop("request")])
    pick = AgentNode(name="pick", agent=agent)
    end = EndNode(name="end", inputs=list(agent.outputs or []))
    edges = [ControlFlowEdge(name="c1", from_node=start, to_node=pick),
             ControlFlowEdge(name="c2", from_node=pick, to_node=end)]
    return Flow(name="main", start_node=start, nodes=[start, pick, end],
                control_flow_connections=edges)


def test_a_completed_remote_task_completes_the_node_and_the_flow_goes_on(
    a2a_server: A2AServer,
) -> None:
    result = runtime().run(flow_of(remote(a2a_server.url)), {"request": "hello"})
    assert result.status == "finished", result.error
    assert result.outputs == {"result": "echo: hello"}
    assert [text for text, _ in a2a_server.seen.sends] == ["hello"]
    assert a2a_server.seen.versions == {"1.0"}  # the card offers 1.0: every call says so
    assert result.messages[-1]["content"] == "echo: hello"


def test_data_artifacts_fill_the_outputs_by_name(a2a_server: A2AServer) -> None:
    agent = remote(a2a_server.url, outputs=[prop("request"), prop("result")])
    result = runtime().run(flow_of(agent), {"request": "data please"})
    assert result.status == "finished", result.error
    # The inputs go as a data part; the echo sends them back as a data artifact.
    assert result.outputs == {"request": "data please", "result": "echo: data please"}


def test_input_required_waits_and_the_answer_goes_to_the_same_task(
    a2a_server: A2AServer,
) -> None:
    rt = runtime()
    flow = flow_of(remote(a2a_server.url, outputs=[prop("colour")]))
    waiting = rt.run(flow, {"request": "ask me"})
    assert waiting.status == "waiting", waiting.error
    (request,) = waiting.pending
    assert (request.kind, request.node, request.prompt) == ("input", "main > pick",
                                                           "Which colour?")
    done = rt.resume(waiting.run_id, {request.id: "blue"})
    assert done.status == "finished", done.error
    assert done.outputs == {"colour": "blue"}
    assert [m["content"] for m in done.messages] == ["Which colour?", "blue", "You chose blue."]
    (first, task), (answer, same_task) = a2a_server.seen.sends
    assert (first, answer) == ("ask me", "blue") and task == same_task


def test_a_resume_in_a_new_runtime_answers_the_journaled_task(
    a2a_server: A2AServer, tmp_path: Path,
) -> None:
    store_path = tmp_path / "runs.sqlite3"
    flow = flow_of(remote(a2a_server.url, outputs=[prop("colour")]))
    waiting = runtime(store=SqliteStore(str(store_path))).run(flow, {"request": "ask again"})
    assert waiting.status == "waiting", waiting.error
    later = runtime(store=SqliteStore(str(store_path)))
    done = later.resume(waiting.run_id, {waiting.pending[0].id: "green"})
    assert done.status == "finished", done.error
    assert done.outputs == {"colour": "green"}
    assert len(a2a_server.seen.sends) == 2  # the first message was not sent again
    assert len({task for _, task in a2a_server.seen.sends}) == 1


KILLED_RUN = """
import sys, loom
from loom.stores import SqliteStore
flow = loom.load(sys.argv[1])
rt = loom.Runtime(use_env=False, store=SqliteStore(sys.argv[2]), checkpoint="nodes")
rt.run(flow, {"request": "work 1.5"}, run_id="killed")
"""


def test_a_run_killed_while_the_remote_agent_works_polls_the_same_task(
    a2a_server: A2AServer, tmp_path: Path,
) -> None:
    flow_file = tmp_path / "flow.json"
    loom.dump(flow_of(remote(a2a_server.url)), str(flow_file))
    store_path = tmp_path / "runs.sqlite3"
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(flow_file),
                              str(store_path)], env={**os.environ, "PYTHONPATH": ""})
    try:
        deadline = time.monotonic() + 30
        # The send is journaled (and checkpointed) before the first poll.
        while a2a_server.seen.polls == 0 and child.poll() is None:
            assert time.monotonic() < deadline, "the child never polled the remote task"
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    done = runtime(store=SqliteStore(str(store_path))).resume("killed")
    assert done.status == "finished", done.error
    assert done.outputs == {"result": "worked"}
    assert [text for text, _ in a2a_server.seen.sends] == ["work 1.5"]  # sent once only


@pytest.mark.parametrize(("request_text", "state", "said"),
                         [("fail", "failed", "no such order"), ("reject", "rejected", "not my job")])
def test_a_failed_or_rejected_task_fails_the_node_naming_agent_and_url(
    a2a_server: A2AServer, request_text: str, state: str, said: str,
) -> None:
    result = runtime().run(flow_of(remote(a2a_server.url)), {"request": request_text})
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > pick"
    message = result.error.message
    assert "A2A agent 'colours'" in message and a2a_server.url in message
    assert f"as {state}: {said}" in message


def test_a_task_past_the_session_timeout_fails_the_node_and_is_cancelled(
    a2a_server: A2AServer,
) -> None:
    started = time.monotonic()
    result = runtime().run(flow_of(remote(a2a_server.url, timeout=0.5)), {"request": "slow"})
    assert time.monotonic() - started < 5
    assert result.status == "failed" and result.error is not None
    assert result.error.node == "main > pick"
    assert "timed out" in result.error.message and a2a_server.url in result.error.message
    assert [task for _, task in a2a_server.seen.sends] == a2a_server.seen.cancels


async def test_cancelling_the_run_cancels_the_remote_task(a2a_server: A2AServer) -> None:
    rt = runtime()
    run = asyncio.ensure_future(rt.arun(flow_of(remote(a2a_server.url)), {"request": "slow"}))
    deadline = time.monotonic() + 10
    while a2a_server.seen.polls == 0:
        assert time.monotonic() < deadline and not run.done()
        await asyncio.sleep(0.02)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert [task for _, task in a2a_server.seen.sends] == a2a_server.seen.cancels


def test_an_agent_card_offering_only_a2a_0_3_is_spoken_to_in_0_3() -> None:
    with serve("0.3") as server:
        result = runtime().run(flow_of(remote(server.url)), {"request": "old times"})
        assert result.status == "finished", result.error
        assert result.outputs == {"result": "echo: old times"}
        assert server.seen.versions == {"0.3"}


def test_run_on_the_agent_itself_waits_for_the_first_message(a2a_server: A2AServer) -> None:
    agent = A2AAgent(name="colours", agent_url=a2a_server.url,
                     connection_config=A2AConnectionConfig(name="conn"),
                     session_parameters={"poll_interval": 0.05})
    rt = runtime()
    waiting = rt.run(agent)
    assert waiting.status == "waiting" and waiting.pending[0].kind == "input"
    done = rt.resume(waiting.run_id, {waiting.pending[0].id: "hi there"})
    assert done.status == "finished", done.error
    assert [m["content"] for m in done.messages] == ["hi there", "echo: hi there"]


def test_the_remote_agent_has_its_span_under_the_agent_node(a2a_server: A2AServer) -> None:
    collector = SpanCollector()
    rt = runtime(listeners=[SpanBuilder([collector])])
    result = rt.run(flow_of(remote(a2a_server.url)), {"request": "traced"})
    assert result.status == "finished", result.error
    (node,) = [s for s in collector.spans if s.name == "pick"]
    (agent,) = collector.children(node)
    assert (agent.type, agent.name) == ("AgentExecutionSpan", "colours")
    assert agent.end_time is not None


def tls_agent(url: str, **connection: Any) -> A2AAgent:
    return A2AAgent(
        name="colours", agent_url=url, inputs=[prop("request")], outputs=[prop("result")],
        connection_config=A2AConnectionConfig(name="conn", timeout=10.0, **connection),
        session_parameters={"poll_interval": 0.05, "max_retries": 0},
    )


def test_mutual_tls_and_headers_from_the_connection_config(certificates: Certificates) -> None:
    with serve("1.0", ssl_certfile=certificates.server_cert,
               ssl_keyfile=certificates.server_key, ssl_ca_certs=certificates.ca,
               ssl_cert_reqs=ssl.CERT_REQUIRED) as server:
        assert server.url.startswith("https://")
        trusted = tls_agent(server.url, ssl_ca_cert=certificates.ca,
                            cert_file=certificates.client_cert,
                            key_file=certificates.client_key, headers={"X-Token": "t0k3n"})
        result = runtime().run(flow_of(trusted), {"request": "over tls"})
        assert result.status == "finished", result.error
        assert result.outputs == {"result": "echo: over tls"}
        assert server.seen.tokens == {"t0k3n"}
        # Without the client certificate the server refuses the connection.
        anonymous = tls_agent(server.url, ssl_ca_cert=certificates.ca)
        refused = runtime().run(flow_of(anonymous), {"request": "no cert"})
        assert refused.status == "failed" and refused.error is not None
        assert f"A2A agent 'colours' at {server.url} failed" in refused.error.message


def test_an_untrusted_certificate_is_refused_unless_verify_is_off(
    certificates: Certificates,
) -> None:
    with serve("1.0", ssl_certfile=certificates.server_cert,
               ssl_keyfile=certificates.server_key) as server:
        untrusted = runtime().run(flow_of(tls_agent(server.url)), {"request": "hi"})
        assert untrusted.status == "failed" and untrusted.error is not None
        assert server.url in untrusted.error.message
        assert server.seen.sends == []
        unverified = runtime().run(flow_of(tls_agent(server.url, verify=False)), {"request": "hi"})
        assert unverified.status == "finished", unverified.error
        assert unverified.outputs == {"result": "echo: hi"}


def test_a_flow_written_by_pyagentspec_with_an_a2a_agent_runs(a2a_server: A2AServer) -> None:
    from pyagentspec.a2aagent import A2AAgent as SdkA2AAgent
    from pyagentspec.a2aagent import A2AConnectionConfig as SdkConnection
    from pyagentspec.flows.edges import ControlFlowEdge as SdkEdge
    from pyagentspec.flows.flow import Flow as SdkFlow
    from pyagentspec.flows.nodes import AgentNode as SdkAgentNode
    from pyagentspec.flows.nodes import EndNode as SdkEnd
    from pyagentspec.flows.nodes import InputMessageNode as SdkInput
    from pyagentspec.flows.nodes import StartNode as SdkStart
    from pyagentspec.serialization import AgentSpecSerializer

    agent = SdkA2AAgent(name="colours", agent_url=a2a_server.url,
                        connection_config=SdkConnection(name="conn"),
                        session_parameters={"poll_interval": 0.05})
    nodes = [SdkStart(name="start"), SdkInput(name="ask", message="Say something"),
             SdkAgentNode(name="pick", agent=agent), SdkEnd(name="end")]
    edges = [SdkEdge(name=f"e{i}", from_node=a, to_node=b)
             for i, (a, b) in enumerate(zip(nodes, nodes[1:], strict=False))]
    text = AgentSpecSerializer().to_json(SdkFlow(name="main", start_node=nodes[0], nodes=nodes,
                                                 control_flow_connections=edges))
    rt = runtime()
    waiting = rt.run(loom.loads(text))
    assert waiting.status == "waiting", waiting.error
    done = rt.resume(waiting.run_id, {waiting.pending[0].id: "from the SDK"})
    assert done.status == "finished", done.error
    assert done.messages[-1]["content"] == "echo: from the SDK"


def test_a_url_without_an_agent_card_fails_at_once(a2a_server: A2AServer) -> None:
    agent = remote(a2a_server.url + "/nowhere", max_retries=5, poll_interval=2.0)
    started = time.monotonic()
    result = runtime().run(flow_of(agent), {"request": "hello?"})
    assert time.monotonic() - started < 1.5  # a 404 is not retried
    assert result.status == "failed" and result.error is not None
    assert f"at {a2a_server.url}/nowhere failed" in result.error.message
    assert "404" in result.error.message


def with_retries(agent: A2AAgent, **policy: Any) -> A2AAgent:
    agent.connection_config.retry_policy = {"initial_retry_delay": 0.05, "jitter": None,
                                            **policy}
    return agent


def test_the_connection_retry_policy_retries_refused_requests() -> None:
    with serve("1.0") as server:
        agent = with_retries(remote(server.url, max_retries=0), max_attempts=3,
                             max_retry_delay=0.2)
        server.seen.failures = [503, 503]  # the card request, then its first retry
        result = runtime().run(flow_of(agent), {"request": "hello"})
        assert result.status == "finished", result.error
        assert server.seen.refused == 2
        server.seen.failures = [503, 429, 502]  # the message itself: sent once
        result = runtime().run(flow_of(agent), {"request": "again"})
        assert result.status == "finished", result.error
        assert server.seen.refused == 5
        assert [text for text, _ in server.seen.sends] == ["hello", "again"]


def test_past_max_attempts_the_node_fails_with_the_last_status() -> None:
    with serve("1.0") as server:
        agent = with_retries(remote(server.url, max_retries=0), max_attempts=1)
        server.seen.failures = [503] * 5
        result = runtime().run(flow_of(agent), {"request": "hello"})
        assert result.status == "failed" and result.error is not None
        assert "503" in result.error.message and f"at {server.url} failed" in result.error.message
        assert server.seen.refused == 2  # the request and its one retry
        server.seen.failures = [400, 503]  # a status the policy never retries
        result = runtime().run(flow_of(agent), {"request": "hello"})
        assert result.status == "failed" and server.seen.refused == 3


def test_the_policy_request_timeout_bounds_each_request() -> None:
    with serve("1.0") as server:
        agent = with_retries(remote(server.url, max_retries=0), request_timeout=0.3)
        server.seen.stall = 3.0  # the card: longer than request_timeout, within timeout=10
        started = time.monotonic()
        result = runtime().run(flow_of(agent), {"request": "hello"})
        assert result.status == "failed", result.outputs
        assert time.monotonic() - started < 2.5
