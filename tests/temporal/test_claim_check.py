"""Large values through a claim-check store: a 3 MB tool result and a 3 MB input go
through a real dev server, the history keeps only references under the threshold,
and a reference whose value cannot be read names its key."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload

import loom
from loom.errors import CheckpointError
from loom.temporal import TemporalBackend, connect
from loom.temporal.claim_check import (
    THRESHOLD,
    ClaimCheckCodec,
    ClaimCheckStore,
    DirectoryStore,
    open_claim_check,
)
from runtime.conftest import linear_flow, prop, tool_node
from temporal.backends import backend, replay
from temporal.test_cli import loom_command, worker_process

pytestmark = pytest.mark.timeout(120)
BIG = 3_000_000


def payloads(message: Message) -> Iterator[Payload]:
    """Every Payload inside a protobuf message (an event of a history)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:  # e.g. a header's fields
            children = list(value.values())
        else:
            children = [value] if isinstance(value, Message) else list(value)
        for child in children:
            if isinstance(child, Message):
                yield from payloads(child)


async def largest_payload(server: str, run_id: str) -> tuple[int, int]:
    """(the largest payload in the run's history, how many payloads it holds)."""
    client = await connect(server)
    history = await client.get_workflow_handle(run_id).fetch_history()
    sizes = [p.ByteSize() for event in history.events for p in payloads(event)]
    return max(sizes), len(sizes)


@pytest.fixture(params=["directory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ClaimCheckStore:
    if request.param == "directory":
        return open_claim_check((tmp_path / "claims").as_uri())
    return open_claim_check(request.getfixturevalue("postgres_url"))


def big_flow() -> Any:
    return linear_flow(
        "main", tool_node("big", [prop("seed")], [prop("blob")]),
        tool_node("measure", [prop("blob"), prop("text")], [prop("n", "integer")]),
        inputs=[prop("seed"), prop("text")], outputs=[prop("blob"), prop("n", "integer")])


async def test_three_megabytes_go_through_and_stay_out_of_the_history(
    temporal_server: str, task_queue: str, store: ClaimCheckStore
) -> None:
    calls: dict[str, int] = {}

    def big(seed: str) -> str:
        calls["big"] = calls.get("big", 0) + 1
        return seed * (BIG // len(seed))

    def measure(blob: str, text: str) -> int:
        calls["measure"] = calls.get("measure", 0) + 1
        return len(blob) + len(text)

    tools = {"big": big, "measure": measure}
    inputs = {"seed": "ab", "text": "t" * BIG}  # a 3 MB input too
    with loom.Runtime(tools=tools, use_env=False) as local:
        expected = (await local.arun(big_flow(), inputs)).outputs
    calls.clear()
    async with backend("temporal", temporal_server, task_queue, tools,
                       claim_check=store) as runtime:
        result = await runtime.arun(big_flow(), inputs)
        assert result.status == "finished", result.error
        assert result.outputs == expected and result.outputs["n"] == 2 * BIG
        assert calls == {"big": 1, "measure": 1}
        again = await runtime.backend.aview(result.run_id)  # the query's answer, read back
        assert again.outputs == expected
    largest, count = await largest_payload(temporal_server, result.run_id)
    assert count > 5 and largest <= THRESHOLD, largest
    await replay(temporal_server, result.run_id, store)


async def test_a_reference_to_a_value_this_process_cannot_read_names_its_key(
    temporal_server: str, task_queue: str, tmp_path: Path
) -> None:
    store = DirectoryStore(tmp_path / "workers")
    flow = linear_flow("main", tool_node("big", [], [prop("blob")]), outputs=[prop("blob")])
    async with backend("temporal", temporal_server, task_queue, {"big": lambda: "x" * BIG},
                       claim_check=store) as runtime:
        run_id = (await runtime.arun(flow, {})).run_id
        elsewhere = TemporalBackend(f"temporal://{temporal_server}/default", task_queue,
                                    claim_check=(tmp_path / "another").as_uri())
        with pytest.raises(CheckpointError, match=r"claim-check value '[0-9a-f]{64}' "
                           r"\(3,0\d\d,\d\d\d bytes\) is missing from file://.*another"):
            await elsewhere.aview(run_id)
        storeless = TemporalBackend(f"temporal://{temporal_server}/default", task_queue)
        with pytest.raises(CheckpointError, match="in a claim-check store .* but this "
                           "process has none") as caught:
            await storeless.aview(run_id)
        assert "--claim-check URL" in str(caught.value)


async def test_a_value_is_stored_once_and_pruned_by_age(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    codec = ClaimCheckCodec(store, threshold=100)
    small, large = Payload(data=b"s" * 50), Payload(data=b"l" * 1000)
    encoded = await codec.encode([small, large, large])
    assert encoded[0] == small and encoded[1] == encoded[2]  # content-addressed: one value
    assert encoded[1].ByteSize() < 200
    files = list(tmp_path.glob("??/*"))
    assert len(files) == 1
    assert await codec.decode(encoded) == [small, large, large]
    old = time.time() - 3600
    os.utime(files[0], (old, old))
    assert store.prune(older_than=7200) == 0  # read an hour ago: kept
    assert store.prune(older_than=60) == 1
    with pytest.raises(CheckpointError, match=files[0].name):
        await codec.decode(encoded)


def test_postgres_store_keeps_values_once_and_prunes_them(postgres_url: str) -> None:
    store = open_claim_check(postgres_url)
    key = os.urandom(32).hex()
    store.put(key, b"value")
    store.put(key, b"value")  # a retry: the same row
    assert store.get(key) == b"value"
    assert store.prune(older_than=3600) == 0
    time.sleep(0.01)
    assert store.prune(older_than=0.001) >= 1
    assert store.get(key) is None


def test_a_store_url_that_is_neither_says_what_to_write() -> None:
    with pytest.raises(loom.LoomError, match="neither a directory nor PostgreSQL") as caught:
        open_claim_check("s3://bucket/claims")
    assert "file:///shared/dir" in str(caught.value)


def test_cli_worker_run_resume_and_prune_share_a_store(
    temporal_server: str, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = (tmp_path / "claims").as_uri()
    monkeypatch.setenv("LOOM_CLAIM_CHECK", url)  # the worker's store, from the environment
    tools = "def shout(text: str) -> str:\n    return (text.upper() + '!') * 1_000_000\n"
    with worker_process(temporal_server, task_queue, tmp_path, tools) as (config, options):
        monkeypatch.delenv("LOOM_CLAIM_CHECK")
        backend = [*options, "--claim-check", url]  # the client's, from the option
        started = loom_command("run", str(config), "--json", *backend)
        assert started.returncode == 3, started.stderr
        run_id = json.loads(started.stdout)["run_id"]
        done = loom_command("resume", run_id, "--answer", "hi", "--json", *backend)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["outputs"] == {"loud": "HI!" * 1_000_000}
        storeless = loom_command("runs", "cancel", run_id, *options)
        assert storeless.returncode == 1 and "but this process has none" in storeless.stderr
    kept = loom_command("claims", "prune", url, "--older-than", "1d", "--json")
    assert kept.returncode == 0 and json.loads(kept.stdout) == {"deleted": 0}
    pruned = loom_command("claims", "prune", url, "--older-than", "0s", "--json")
    assert pruned.returncode == 0 and json.loads(pruned.stdout)["deleted"] >= 2, pruned.stderr
    bad = loom_command("claims", "prune", url, "--older-than", "soon")
    assert bad.returncode == 2 and "not an age such as 30d" in bad.stderr
