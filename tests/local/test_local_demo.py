"""The main job with a real model: the seed flow (examples/parallel_marketing) on
SmolLM2-135M, as ``./scripts/demo`` runs it (``loom run --local-llm``).

The model is small: with the spec's prompt it writes a usable message only for
some sampling seeds, so ``loom.local.DETERMINISTIC`` fixes one, and these tests
check that its message greets the user and names an item the tools returned.
"""

from __future__ import annotations

import os
import re
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import loom
from loom.local import MODEL_NAME, LocalLlm

from .conftest import need_local_model

pytestmark = pytest.mark.timeout(900)
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "parallel_marketing"
ITEMS = ("tent", "camping lamp", "sleeping bag", "kayak")  # what the example's tools return


def names_the_user_and_an_item(message: str) -> bool:
    return "Alice" in message and any(item in message.lower() for item in ITEMS)


def loom_command(*args: str, delay: str = "0") -> subprocess.Popen[str]:
    env = {**os.environ, "LOOM_EXAMPLE_TOOL_DELAY": delay}
    env.pop("LOOM_LLM_URL", None)
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("loom")), "run", str(EXAMPLE / "flow.json"),
         "--tools", str(EXAMPLE / "tools.py"), "-i", "username=alice", "--local-llm", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )


def test_the_seed_flow_message_is_the_models_and_uses_the_tools_results(
    local_llm: LocalLlm, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOOM_EXAMPLE_TOOL_DELAY", "0")
    tools = runpy.run_path(str(EXAMPLE / "tools.py"))
    with loom.Runtime(tools=tools, llm=local_llm.overrides, use_env=False) as runtime:
        result = runtime.run(str(EXAMPLE / "flow.json"), {"username": "alice"})
    assert result.status == "finished", result.error
    message = result.outputs["marketing_message"]
    assert names_the_user_and_an_item(message), message
    assert result.messages[-1]["content"] == message


def test_loom_run_local_llm_prints_the_model_and_its_message() -> None:
    need_local_model()
    process = loom_command()
    try:
        out, err = process.communicate(timeout=850)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert f"LLM: {MODEL_NAME}" in err and "stand-in" in err
    assert "test LLM server" not in err
    [message] = re.findall(r"^marketing_message: (.*?)^\[assistant\]", out, re.S | re.M)
    assert names_the_user_and_an_item(message), out


def test_ctrl_c_stops_the_local_server() -> None:
    need_local_model()
    process = loom_command(delay="60")  # the tools hold the run while Ctrl-C comes
    assert process.stderr is not None
    try:
        banner = ""
        deadline = time.monotonic() + 300
        while "LLM: " not in banner and time.monotonic() < deadline:
            banner += process.stderr.readline()
        [url] = re.findall(r"at (http://127\.0\.0\.1:\d+/v1)", banner)
        assert httpx.get(f"{url}/models", timeout=10).is_success  # it serves while loom runs
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=180)
        assert process.returncode != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models", timeout=10)
