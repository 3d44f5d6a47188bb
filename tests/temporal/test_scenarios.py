"""One scenario suite, run on the local backend and on Temporal: the same results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import loom
from temporal.backends import BACKENDS, backend

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "parallel_marketing"


def example_tools():
    import importlib.util

    spec = importlib.util.spec_from_file_location("marketing_tools", EXAMPLE / "tools.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: getattr(module, name) for name in (
        "get_current_time", "get_user_information", "get_user_last_purchases",
        "get_items_on_sale")}


@pytest.mark.parametrize("kind", BACKENDS)
async def test_seed_flow(kind, temporal_server, task_queue, monkeypatch, llm_server) -> None:
    monkeypatch.setenv("LOOM_EXAMPLE_TOOL_DELAY", "0")
    tools = example_tools()
    async with backend(kind, temporal_server, task_queue, tools,
                       llm_url=llm_server.url) as runtime:
        result = await runtime.arun(loom.load(EXAMPLE / "flow.json"), {"username": "alice"})
    assert result.status == "finished", result.error
    assert result.outputs
