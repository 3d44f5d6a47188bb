"""Language versions as pyagentspec 26.3.1 has them: which are read, which are
written, and the version a loaded document is written back at. Each fact is
checked against the installed SDK (a test oracle) where it has an opinion."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

import loom
from loom.cli import main
from loom.spec import llms
from loom.spec.versions import (
    CURRENT_VERSION,
    KNOWN_VERSIONS,
    UNPUBLISHED_VERSIONS,
    VERSION_ALIASES,
    WRITABLE_VERSIONS,
)

sdk_versioning = pytest.importorskip("pyagentspec.versioning")
sdk_serialization = pytest.importorskip("pyagentspec.serialization")


def vllm_doc(version: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "component_type": "VllmConfig", "id": "v", "name": "v", "model_id": "m",
        "url": "http://llm",
    }
    if version is not None:
        doc["agentspec_version"] = version
    return doc


def sdk_rewrites(doc: dict[str, Any]) -> str:
    """The version pyagentspec writes a document back at after loading it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        component = sdk_serialization.AgentSpecDeserializer().from_json(json.dumps(doc))
    return str(sdk_serialization.AgentSpecSerializer().to_dict(component)["agentspec_version"])


def loom_rewrites(doc: dict[str, Any], **kwargs: Any) -> tuple[str, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        component = loom.loads(json.dumps(doc), **kwargs)
    notes = [str(w.message) for w in caught if issubclass(w.category, loom.VersionWarning)]
    return str(loom.to_dict(component)["agentspec_version"]), notes


def test_the_versions_are_the_sdks() -> None:
    enum = sdk_versioning.AgentSpecVersionEnum
    published = [member.value for member in enum]  # aliases (current_version) fold in
    prerelease = set(sdk_versioning._PRERELEASE_AGENTSPEC_VERSIONS)
    assert list(KNOWN_VERSIONS) == [v for v in published if v not in prerelease]
    assert set(VERSION_ALIASES) == prerelease
    assert CURRENT_VERSION == enum.current_version.value == enum.latest_supported_version.value
    for version in UNPUBLISHED_VERSIONS:
        with pytest.raises(ValueError, match="is not a valid AgentSpecVersionEnum"):
            enum(version)


@pytest.mark.parametrize("version", WRITABLE_VERSIONS)
def test_a_loaded_document_is_written_back_at_its_version(version: str) -> None:
    written, notes = loom_rewrites(vllm_doc(version))
    assert written == version == sdk_rewrites(vllm_doc(version))
    assert not notes


def test_a_document_without_a_version_is_the_current_one() -> None:
    written, notes = loom_rewrites(vllm_doc(None))
    assert written == "26.3.1" == sdk_rewrites(vllm_doc(None))
    assert notes == ["<text> declares no agentspec_version; reading it as 26.3.1"]


def test_the_pre_release_is_read_as_the_first_release() -> None:
    written, notes = loom_rewrites(vllm_doc("25.4.0"))
    assert written == "25.4.1" == sdk_rewrites(vllm_doc("25.4.0"))
    assert notes == ["<text>: agentspec_version 25.4.0 is a pre-release; read as 25.4.1"]


@pytest.mark.parametrize("version", ["25.3.0", "25.3.1"])
def test_legacy_versions_are_below_every_component(version: str) -> None:
    with pytest.raises(ValueError, match="minimum allowed version is .*25_4_1"):
        sdk_rewrites(vllm_doc(version))
    written, notes = loom_rewrites(vllm_doc(version))
    assert written == "25.4.1"
    assert notes == [f"<text> declares agentspec_version {version}, but the base language needs "
                     "25.4.1; loading anyway (set agentspec_version to 25.4.1 or later)"]
    with pytest.raises(loom.VersionError, match="the base language needs 25.4.1"):
        loom.loads(json.dumps(vllm_doc(version)), strict=True)


def test_26_2_0_is_read_with_a_warning_and_never_written() -> None:
    with pytest.raises(ValueError, match="'26.2.0' is not a valid AgentSpecVersionEnum"):
        sdk_rewrites(vllm_doc("26.2.0"))
    written, notes = loom_rewrites(vllm_doc("26.2.0"))
    assert written == "25.4.1"  # what its features need: 26.2.0 is never written
    assert notes == ["<text>: agentspec_version 26.2.0 was never published (other tools refuse "
                     "it); reading it anyway, and writing it back at a published version"]
    config = llms.VllmConfig(name="v", model_id="m", url="http://llm")
    with pytest.raises(loom.VersionError, match="'26.2.0': it was never published") as info:
        loom.dumps(config, agentspec_version="26.2.0")
    assert "26.3.1" in (info.value.hint or "")


def test_features_newer_than_the_declared_version_raise_it() -> None:
    doc = vllm_doc("25.4.1")
    doc["retry_policy"] = {"max_attempts": 3}  # needs 26.1.2
    written, notes = loom_rewrites(doc)
    assert written == "26.1.2"
    assert notes and "needs 26.1.2" in notes[0]


def test_a_part_of_a_loaded_document_keeps_the_documents_version() -> None:
    """pyagentspec pins every component it loads to the declared version."""
    agent = {
        "component_type": "Agent", "id": "a", "name": "a", "system_prompt": "hi",
        "llm_config": vllm_doc(None), "agentspec_version": "26.1.0",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = loom.loads(json.dumps(agent))
        sdk_agent = sdk_serialization.AgentSpecDeserializer().from_json(json.dumps(agent))
    sdk_llm = sdk_serialization.AgentSpecSerializer().to_dict(sdk_agent.llm_config)
    assert loom.to_dict(loaded.llm_config)["agentspec_version"] == "26.1.0"  # type: ignore[attr-defined]
    assert sdk_llm["agentspec_version"] == "26.1.0"


def test_a_python_built_component_gets_the_lowest_version_it_needs() -> None:
    config = llms.VllmConfig(name="v", model_id="m", url="http://llm")
    assert loom.to_dict(config)["agentspec_version"] == "25.4.1"
    dbms = llms.DbmsVectorChainLlmConfig(
        name="d", model_id="m", provider="openai", url="http://p", credential_name="C"
    )
    assert loom.to_dict(dbms)["agentspec_version"] == "26.3.1"


def test_convert_keeps_the_declared_version(tmp_path: Any, capsys: Any) -> None:
    path = tmp_path / "llm.json"
    path.write_text(json.dumps(vllm_doc("26.1.0")))
    assert main(["convert", str(path), "--to", "yaml"]) == 0
    assert "agentspec_version: 26.1.0" in capsys.readouterr().out


def test_convert_refuses_to_write_26_2_0(tmp_path: Any, capsys: Any) -> None:
    path = tmp_path / "llm.json"
    path.write_text(json.dumps(vllm_doc("26.1.0")))
    assert main(["convert", str(path), "--to", "json", "--agentspec-version", "26.2.0"]) == 2
    err = capsys.readouterr().err
    assert "26.2.0 was never published: write one of 25.4.1, 25.4.2, 26.1.0, 26.1.2, 26.3.1" in err


def test_validate_labels_an_unpublished_version(tmp_path: Any, capsys: Any) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps(vllm_doc("26.2.0")))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "(VllmConfig 'v', agentspec 26.2.0, never published)" in out
    assert "was never published" in out
