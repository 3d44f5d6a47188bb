"""``loom run --trace``: every event as one JSON line, and never a secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loom.cli import main
from loom.observability import MASK, REDACTED, TraceFile, read_trace
from loom.testing import FakeLlmServer

from .conftest import SEED

CONFIG_KEY = "sk-config-4f1d2c9b7e"
ENV_KEY = "sk-env-9a8b7c6d5e"

# Tools that leak both keys into their outputs, so that the keys reach the
# node outputs, the LLM prompt and (echoed by the fake LLM) its answer.
LEAKY_TOOLS = f'''
import os

def get_current_time():
    return "09:30 " + os.environ["LOOM_LLM_API_KEY"]

def get_user_information(username):
    return {{"name": username, "token": "{CONFIG_KEY}"}}

def get_user_last_purchases(username):
    return [{{"item": "tent", "paid_with": os.environ["LOOM_LLM_API_KEY"]}}]

def get_items_on_sale():
    return []
'''


@pytest.fixture
def keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The seed flow with an API key in its LLM config, tools that leak keys, and
    LOOM_LLM_API_KEY in the environment."""
    document = json.loads(SEED.read_text())
    text = json.dumps(document).replace('"api_key": null', f'"api_key": "{CONFIG_KEY}"')
    assert CONFIG_KEY in text
    config = tmp_path / "flow.json"
    config.write_text(text)
    tools = tmp_path / "tools.py"
    tools.write_text(LEAKY_TOOLS)
    monkeypatch.setenv("LOOM_LLM_API_KEY", ENV_KEY)
    return config, tools


@pytest.mark.parametrize("content", [False, True], ids=["masked", "with-content"])
def test_the_trace_holds_no_api_key(
    keyed: tuple[Path, Path], llm: FakeLlmServer, tmp_path: Path, content: bool
) -> None:
    config, tools = keyed
    trace = tmp_path / "run.jsonl"
    argv = ["run", str(config), "--tools", str(tools), "-i", "username=alice",
            "--llm-url", llm.url, "--trace", str(trace), "--quiet"]
    assert main(argv + (["--trace-content"] if content else [])) == 0
    # The keys were really in play: the env key went to the server as the key,
    # and both reached the prompt through the tools' outputs.
    assert llm.recorded[-1].headers["authorization"] == f"Bearer {ENV_KEY}"
    prompt = llm.requests[-1]["messages"][0]["content"]
    assert ENV_KEY in prompt and CONFIG_KEY in prompt
    raw = trace.read_bytes()
    assert CONFIG_KEY.encode() not in raw and ENV_KEY.encode() not in raw
    lines = [json.loads(line) for line in raw.decode().splitlines()]
    assert len(lines) >= 40
    if content:
        assert REDACTED.encode() in raw  # they were there, and were scrubbed
        outputs = next(line for line in lines if line["type"] == "NodeExecutionEnd"
                       and line["node"]["name"] == "get_current_time_step")["outputs"]
        assert outputs == {"current_time": f"09:30 {REDACTED}"}
    else:
        assert MASK.encode() in raw and REDACTED.encode() not in raw


def test_every_event_is_a_line_that_rebuilds_the_spans(seed_runtime: Any, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with TraceFile(path) as trace:
        events: list[Any] = []
        runtime = seed_runtime(listeners=[events.append, trace])
        runtime.run(SEED, {"username": "alice"})
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == len(events)  # one line per runtime event
    assert lines[0]["type"] == "FlowExecutionStart" and lines[-1]["type"] == "FlowExecutionEnd"
    assert {line["span"]["type"] for line in lines} == {
        "FlowExecutionSpan", "NodeExecutionSpan", "ToolExecutionSpan", "LlmGenerationSpan"}
    spans = read_trace(path)
    assert len(spans) == 17 and all(s.status == "ok" and s.end_time for s in spans)
    by_id = {s.id: s for s in spans}
    branches = [s for s in spans if s.parent_id and by_id[s.parent_id].name ==
                "parallel_flow_node"]
    assert len(branches) == 4
    assert max(b.start_time for b in branches) < min(b.end_time for b in branches)  # type: ignore[type-var]


def test_a_traced_llm_call_is_streamed_and_still_counts_its_tokens(
    seed_runtime: Any, llm: FakeLlmServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    with TraceFile(path) as trace:
        seed_runtime(listeners=[trace]).run(SEED, {"username": "alice"})
    assert llm.requests[-1]["stream"] is True  # a listener makes loom stream the answer
    [response] = [json.loads(line) for line in path.read_text().splitlines()
                  if '"LlmGenerationResponse"' in line]
    assert response["input_tokens"] > 0 and response["output_tokens"] > 0


def test_an_unwritable_trace_is_a_clear_error(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing-dir" / "run.jsonl"
    code = main(["run", str(SEED), "--tools", str(SEED.parent / "tools.py"), "-i",
                 "username=a", "--fake-llm", "--trace", str(target), "--quiet"])
    assert code == 2  # the command cannot be carried out; the flow did not fail
    assert "cannot write the trace file" in capsys.readouterr().err
