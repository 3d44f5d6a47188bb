"""``loom resume`` of a run whose config holds an inline secret: the checkpoint keeps
none, so resume reads it again from the config file the run started with (when the
file still holds that flow), or takes it as at run time (``--registry``,
``LOOM_LLM_API_KEY``); otherwise it exits 2 naming the field and the run waits on."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

import loom
from loom.cli import main
from loom.spec import InputMessageNode, LlmNode, OpenAiCompatibleConfig
from loom.testing import FakeLlmServer

from .flows import chain, prop, run

SECRET = "sk-inline-in-the-file"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLlmServer]:
    with FakeLlmServer(latency=0.0) as fake:
        yield fake


def flow_text(server: FakeLlmServer, prompt: str = "Write about {{topic}}") -> str:
    config = OpenAiCompatibleConfig(id="writer_llm", name="writer", url=server.url,
                                    model_id="fake-model", api_key=SECRET)
    flow = chain("writing", InputMessageNode(name="ask", message="Topic?",
                                             outputs=[prop("topic")]),
                 LlmNode(name="write", llm_config=config, prompt_template=prompt),
                 outputs=(prop("generated_text"),))
    return loom.dumps(flow, include_sensitive=True)


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: FakeLlmServer
          ) -> Iterator[Path]:
    (tmp_path / "flow.json").write_text(flow_text(server))
    monkeypatch.setenv("LOOM_STORE", f"sqlite:///{tmp_path}/runs.sqlite3")
    for name in ("LOOM_LLM_URL", "LOOM_LLM_MODEL", "LOOM_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    server.reset()
    yield tmp_path


def start(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", str(place / "flow.json"), "--run-id", "r1", "--json")
    assert code == 3, out
    assert SECRET.encode() not in (place / "runs.sqlite3").read_bytes()


def sent_key(server: FakeLlmServer) -> str | None:
    return server.recorded[-1].headers.get("authorization")


def test_resume_reads_the_secret_again_from_the_unchanged_config_file(
    place: Path, capsys: pytest.CaptureFixture[str], server: FakeLlmServer,
) -> None:
    start(place, capsys)
    code, out, err = run(capsys, "resume", "r1", "--answer", "tents", "--json")
    assert code == 0, err
    assert sent_key(server) == f"Bearer {SECRET}"
    assert SECRET.encode() not in (place / "runs.sqlite3").read_bytes()


def test_a_changed_config_is_not_used_and_the_error_says_what_to_pass(
    place: Path, capsys: pytest.CaptureFixture[str], server: FakeLlmServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start(place, capsys)
    (place / "flow.json").write_text(flow_text(server, prompt="Now about {{topic}}"))
    code, out, err = run(capsys, "resume", "r1", "--answer", "tents")
    assert code == 2, out
    assert "flow.json no longer holds the flow run 'r1' started with" in err
    assert ("error: run 'r1' needs secret(s) its checkpoint does not keep: api_key of "
            "OpenAiCompatibleConfig 'writer' (id writer_llm)") in err
    assert "'writer_llm.api_key'" in err and "LOOM_LLM_API_KEY" in err
    assert not server.recorded
    code, out, _ = run(capsys, "runs", "show", "r1", "--json")
    assert code == 0 and '"waiting"' in out
    monkeypatch.setenv("LOOM_LLM_API_KEY", "sk-from-env")
    code, _, err = run(capsys, "resume", "r1", "--answer", "tents")
    assert code == 0, err
    assert sent_key(server) == "Bearer sk-from-env"


def test_without_the_file_a_registry_entry_gives_the_secret(
    place: Path, capsys: pytest.CaptureFixture[str], server: FakeLlmServer,
) -> None:
    start(place, capsys)
    (place / "flow.json").unlink()
    code, _, err = run(capsys, "resume", "r1", "--answer", "tents")
    assert code == 2 and "needs secret(s)" in err
    keys = place / "keys.yaml"
    keys.write_text("$referenced_components:\n  writer_llm.api_key: sk-from-registry\n")
    code, _, err = run(capsys, "resume", "r1", "--answer", "tents", "--registry", str(keys))
    assert code == 0, err
    assert sent_key(server) == "Bearer sk-from-registry"


AGENT = """\
component_type: Agent
id: helper
name: Helper
system_prompt: You help.
llm_config:
  component_type: OpenAiCompatibleConfig
  id: helper_llm
  name: llm
  url: http://127.0.0.1:1/v1
  model_id: fake-model
  api_key: %s
agentspec_version: 26.2.0
"""


def test_loom_chat_continues_a_session_with_the_key_of_its_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], server: FakeLlmServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.reset()
    config = tmp_path / "agent.yaml"
    config.write_text(AGENT % SECRET)
    store = f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    argv = ["chat", str(config), "--llm-url", server.url, "--store", store, "--run-id", "s1"]
    for typed in ("hello\n", "again\n"):  # two sessions, as two processes would
        monkeypatch.setattr("sys.stdin", io.StringIO(typed))
        assert main(argv) == 0  # left the session: it waits in the store
        assert "error" not in capsys.readouterr().err
    assert len(server.recorded) == 2 and sent_key(server) == f"Bearer {SECRET}"
    assert SECRET.encode() not in (tmp_path / "runs.sqlite3").read_bytes()
