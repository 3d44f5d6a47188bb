"""Resuming a run whose flow holds an inline secret: the checkpoint keeps none, so
the secret is given again as at run time (a registry entry, the LLM key override),
the process that ran the flow remembers it, and otherwise the refusal names the
component, the field and how to give it, and leaves the run waiting."""

from __future__ import annotations

from typing import Any

import pytest

import loom
from loom.runtime.host.runtime import FLOWS_KEPT
from loom.runtime.host.secrets import resume_registry
from loom.spec import InputMessageNode, LlmNode
from loom.stores import MemoryStore

from .conftest import linear_flow, llm_config, props, runtime

SECRET = "sk-inline-secret"


def asking_llm_flow(server: Any) -> tuple[Any, Any]:
    config = llm_config(server, api_key=SECRET)
    flow = linear_flow("main", InputMessageNode(name="ask", message="Topic?",
                                                outputs=props(topic="string")),
                       LlmNode(name="write", llm_config=config,
                               prompt_template="Write about {{topic}}"),
                       outputs=props(generated_text="string"))
    return flow, config


def start(server: Any, store: Any, **options: Any) -> tuple[loom.RunResult, Any]:
    flow, config = asking_llm_flow(server)
    waiting = runtime({}, store=store, **options).run(flow)
    assert waiting.status == "waiting"
    assert SECRET not in store.load(waiting.run_id).to_json()
    return waiting, config


def answer(waiting: loom.RunResult) -> dict[str, Any]:
    return {waiting.pending[0].id: "tents"}


def sent_key(server: Any) -> str | None:
    return server.recorded[-1].headers.get("authorization")


def test_another_runtime_without_the_secret_is_refused_naming_it_and_the_run_waits(
    any_store_backend: Any, fake_llm: Any,
) -> None:
    waiting, config = start(fake_llm, any_store_backend.open())
    with pytest.raises(loom.CheckpointError) as caught:
        runtime({}, store=any_store_backend.open()).resume(waiting.run_id, answer(waiting))
    error = caught.value
    assert error.message == (f"run '{waiting.run_id}' needs secret(s) its checkpoint does not "
                             f"keep: api_key of OpenAiCompatibleConfig 'fake_llm' "
                             f"(id {config.id})")
    assert f"'{config.id}.api_key'" in (error.hint or "")
    assert "LOOM_LLM_API_KEY" in (error.hint or "")
    assert not fake_llm.recorded
    assert any_store_backend.open().load(waiting.run_id).status == "waiting"
    done = runtime({}, store=any_store_backend.open(),
                   registry={f"{config.id}.api_key": SECRET}).resume(waiting.run_id,
                                                                     answer(waiting))
    assert done.status == "finished", done.error
    assert sent_key(fake_llm) == f"Bearer {SECRET}"


def test_the_llm_key_override_stands_for_a_config_key_left_out(
    any_store_backend: Any, fake_llm: Any,
) -> None:
    waiting, _ = start(fake_llm, any_store_backend.open())
    done = runtime({}, store=any_store_backend.open(),
                   llm={"api_key": "sk-given-again"}).resume(waiting.run_id, answer(waiting))
    assert done.status == "finished", done.error
    assert sent_key(fake_llm) == "Bearer sk-given-again"


def test_loom_llm_api_key_in_the_environment_stands_for_it_too(
    fake_llm: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = MemoryStore()
    waiting, _ = start(fake_llm, store)
    monkeypatch.setenv("LOOM_LLM_API_KEY", "sk-from-env")
    done = runtime({}, store=store, use_env=True).resume(waiting.run_id, answer(waiting))
    assert done.status == "finished", done.error
    assert sent_key(fake_llm) == "Bearer sk-from-env"


def test_the_runtime_that_ran_the_flow_resumes_it_after_its_flow_cache_forgot_it(
    any_store_backend: Any, fake_llm: Any,
) -> None:
    flow, _ = asking_llm_flow(fake_llm)
    rt = runtime({}, store=any_store_backend.open())
    waiting = rt.run(flow)
    del flow
    other = linear_flow("other", InputMessageNode(name="ask", message="?"))
    for i in range(FLOWS_KEPT):  # the flow leaves the bounded cache by digest
        rt._flows.put(str(i), other)
    done = rt.resume(waiting.run_id, answer(waiting))
    assert done.status == "finished", done.error
    assert sent_key(fake_llm) == f"Bearer {SECRET}"


def test_a_registry_entry_wins_and_a_field_the_override_cannot_stand_for_is_named() -> None:
    document = {"component_type": "Flow", "id": "f", "nodes": [
        {"component_type": "OpenAiCompatibleConfig", "id": "llm", "name": "gpt",
         "api_key": {"$component_ref": "llm.api_key"},
         "key_file": {"$component_ref": "llm.key_file"}}]}
    given = {"llm.api_key": "sk-registry", "llm.key_file": "/k.pem"}
    assert resume_registry("r", document, given, None, "sk-override") == given
    assert resume_registry("r", document, {"llm.key_file": "/k.pem"}, None, "sk-o") == {
        "llm.api_key": "sk-o", "llm.key_file": "/k.pem"}
    with pytest.raises(loom.CheckpointError) as caught:
        resume_registry("r", document, {}, None, "sk-override")
    assert caught.value.message == ("run 'r' needs secret(s) its checkpoint does not keep: "
                                    "key_file of OpenAiCompatibleConfig 'gpt' (id llm)")
    assert "LOOM_LLM_API_KEY" not in (caught.value.hint or "")
