"""The runs API refuses an input outside its property's enum, naming the input."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from .helpers import prop, tool_flow, write_configs


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    size = prop("size")
    size.json_schema["enum"] = ["S", "M"]
    return write_configs(tmp_path / "configs", sized=tool_flow("sized", "slow", inputs=[size]))


def test_a_value_outside_the_enum_is_refused_before_the_run(client: httpx.Client) -> None:
    refused = client.post("/v1/components/sized/runs", json={"inputs": {"size": "XL"}})
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "code": "invalid_inputs", "where": "inputs.size",
        "message": "component 'sized': input 'size' is 'XL', not one of ['S', 'M']"}
    assert client.get("/v1/runs").json()["data"] == []
