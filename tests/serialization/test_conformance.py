"""The conformance corpus: every file of ../shared/conformance does what
expectations.json says.

The cases come from expectations.json, so a new file there is tested without a
code change; a file on disk that expectations.json does not mention fails
``test_every_file_has_an_expectation``. The keyword tables below only sharpen
the checks for files whose message we know; a new file falls back to the
generic checks of its kind.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.errors import LoomError
from loom.spec.component import Component
from loom.spec.versions import KNOWN_VERSIONS, version_key
from shared_folder import CONFORMANCE, require

from ._corpus import EXPECTATIONS, SECRET_VALUES, cases, registry_for, stem

# Files of the corpus folder that are not configurations.
NOT_CASES = {"README.md", "expectations.json"}


def _load(path: Path, **kwargs: Any) -> tuple[Component, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        component = loom.load(path, **kwargs)
    return component, list(caught)


def _refused(path: Path, **kwargs: Any) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(LoomError) as info:
            loom.load(path, **kwargs)
    return str(info.value)


@pytest.fixture
def corpus() -> Path:
    return require(CONFORMANCE)


# -- the corpus and its expectations agree --------------------------------------------------------


def test_every_file_has_an_expectation(corpus: Path) -> None:
    on_disk = {
        path.relative_to(corpus).as_posix()
        for path in corpus.rglob("*")
        if path.is_file() and path.name not in NOT_CASES
    }
    unlisted = sorted(on_disk - set(EXPECTATIONS))
    assert not unlisted, f"files of {corpus} missing from expectations.json: {unlisted}"
    vanished = sorted(set(EXPECTATIONS) - on_disk)
    assert not vanished, f"expectations.json lists files that are not on disk: {vanished}"


def test_expectations_use_known_kinds(corpus: Path) -> None:
    assert EXPECTATIONS, "expectations.json is empty"
    kinds = {"load", "load_lenient", "load_with_registry", "registry", "reject"}
    unknown = {rel: e["expect"] for rel, e in EXPECTATIONS.items() if e["expect"] not in kinds}
    assert not unknown, f"unknown expectations: {unknown}"


# -- load ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", cases("load"))
def test_load(corpus: Path, rel: str) -> None:
    component, _ = _load(corpus / rel)
    assert isinstance(component, Component)
    # Nothing in these files is lenient: they load under the strict mode too.
    strict, _ = _load(corpus / rel, strict=True)
    assert loom.to_dict(strict) == loom.to_dict(component)


# -- load_lenient -------------------------------------------------------------------------------------------

# What the warning must name, per case (feature, version); others get the generic check.
LENIENT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "docs_examples/howto_catchexception": ("CatchExceptionNode", "26.1.2", "26.1.0"),
    "docs_examples/howto_flow_with_conditional_branches": ("LlmNode structured outputs", "25.4.2"),
    "docs_examples/howto_structured_generation1": ("LlmNode structured outputs", "25.4.2"),
    "docs_examples/howto_structured_generation2": ("LlmNode structured outputs", "25.4.2"),
    "docs_examples/howto_structured_generation3": ("human_in_the_loop", "25.4.2"),
    "docs_examples/pyagentspec_example_config": ("LlmNode structured outputs", "25.4.2"),
    "sdk_test_configs/invalid/example_serialized_llm_node_with_misplaced_agentspec_version": (
        "'agentspec_version' (23.0.0) is only allowed at the top",
        "$.llm_config",
    ),
}
_GATE = re.compile(r"declares agentspec_version (\S+), but (.+) needs (\S+);")
_MISPLACED = re.compile(r"'agentspec_version' \((\S+)\) is only allowed at the top")


def _names_feature_and_version(message: str) -> bool:
    gate = _GATE.search(message)
    if gate:
        declared, feature, needed = gate.groups()
        return bool(feature) and needed in KNOWN_VERSIONS and version_key(needed) > version_key(declared)
    return _MISPLACED.search(message) is not None


@pytest.mark.parametrize("rel", cases("load_lenient"))
def test_load_lenient(corpus: Path, rel: str) -> None:
    path = corpus / rel
    component, caught = _load(path)
    assert isinstance(component, Component)
    messages = [
        str(w.message) for w in caught if issubclass(w.category, (loom.VersionWarning, loom.LoomWarning))
    ]
    relevant = [m for m in messages if _names_feature_and_version(m)]
    assert relevant, f"no warning names the feature and the version it needs: {messages}"
    for keyword in LENIENT_KEYWORDS.get(stem(rel), ()):
        assert any(keyword in m for m in relevant), (keyword, relevant)
    # Under the strict mode the same file is refused (for that reason, or for another
    # leniency such as a data edge of mismatched types, which strict loads refuse first).
    assert _refused(path, strict=True)


# -- load_with_registry ---------------------------------------------------------------------------------

# What the refusal of the file alone must name.
MISSING_KEYWORDS: dict[str, tuple[str, ...]] = {
    "docs_examples/howto_disaggregated_main_config": ("'llm_config'", "'client_weather_tool'"),
    "docs_examples/howto_oracle_datastore": tuple(f"'{key}'" for key in SECRET_VALUES),
}


@pytest.mark.parametrize("rel", cases("load_with_registry"))
def test_load_with_registry(corpus: Path, rel: str) -> None:
    path = corpus / rel
    alone = _refused(path)
    assert "point at nothing" in alone, alone
    for keyword in MISSING_KEYWORDS.get(stem(rel), ()):
        assert keyword in alone, (keyword, alone)
    component, _ = _load(path, registry=registry_for(rel))
    assert isinstance(component, Component)


def test_disaggregated_main_config_uses_the_registry_components(corpus: Path) -> None:
    for suffix in (".json", ".yaml"):
        registry = loom.load_registry(corpus / f"docs_examples/howto_disaggregated_component_config{suffix}")
        agent, _ = _load(corpus / f"docs_examples/howto_disaggregated_main_config{suffix}", registry=registry)
        assert agent.llm_config is registry["llm_config"]  # type: ignore[attr-defined]
        assert agent.tools == [registry["client_weather_tool"]]  # type: ignore[attr-defined]
        assert agent.llm_config.url == "http://dev.llm.url"  # type: ignore[attr-defined]


def test_oracle_datastore_gets_the_supplied_secrets(corpus: Path) -> None:
    store, _ = _load(corpus / "docs_examples/howto_oracle_datastore.json", registry=SECRET_VALUES)
    config = store.connection_config  # type: ignore[attr-defined]
    assert (config.user, config.password, config.dsn) == ("scott", "tiger", "db.example.com:1522/service")


# -- registry --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", cases("registry"))
def test_registry(corpus: Path, rel: str) -> None:
    path = corpus / rel
    message = _refused(path)
    assert "is a disaggregated components document, not a component" in message
    assert "registry" in message  # and says how to use it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = loom.load_registry(path)
    assert registry and all(isinstance(value, Component) for value in registry.values())


# -- reject ------------------------------------------------------------------------------------------------

LEGACY = ("not Agent Spec JSON/YAML as written by current tools",)
REJECT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "docs_examples/howto_a2aagent": ("A2AAgent", "connection_config", "component_type"),
    "docs_examples/howto_parallelflownode": (
        "OutputMessageNode 'output_message_node'",
        "input 'output'",
        "generated_text",
        "[at $['$referenced_components']",  # points at the node, not the flow
    ),
    "docs_examples/plugin_assistant": ("PluginRegexNode", "plugin", "import the Python module"),
    "sdk_test_configs/invalid/example_serialized_llm_node_as_nested_reference_with_incorrect_version": (
        "unsupported agentspec_version '20.99.99'",
    ),
    "sdk_test_configs/invalid/flow_with_multiple_levels_of_references_with_repeated_key": (
        "'promptnode2' is defined twice",
    ),
    "sdk_test_configs/invalid/self_referencing_flow": (
        "circular reference",
        "FlowNode 'flow_node'",
        "Flow 'self_referencing_flow'",
    ),
}


def _reject_keywords(rel: str) -> tuple[str, ...]:
    if stem(rel) in REJECT_KEYWORDS:
        return REJECT_KEYWORDS[stem(rel)]
    if "legacy" in EXPECTATIONS[rel]["why"]:
        return LEGACY
    return ()


@pytest.mark.parametrize("rel", cases("reject"))
def test_reject(corpus: Path, rel: str) -> None:
    path = corpus / rel
    message = _refused(path)
    assert "Traceback" not in message and "\n" not in message.strip()
    for keyword in _reject_keywords(rel):
        assert keyword in message, (keyword, message)
    assert _refused(path, strict=True)


def test_parallelflownode_refusal_is_at_load_not_at_run(corpus: Path) -> None:
    with pytest.raises(LoomError) as info:
        loom.load(corpus / "docs_examples/howto_parallelflownode.json")
    assert "can never run" in str(info.value)


def test_lenient_version_gates_are_refused_for_the_version_when_strict(corpus: Path) -> None:
    message = _refused(corpus / "docs_examples/howto_catchexception.json", strict=True)
    assert "declares agentspec_version 26.1.0, but CatchExceptionNode needs 26.1.2" in message
    assert isinstance(_error(corpus / "docs_examples/howto_catchexception.json"), loom.VersionError)


def _error(path: Path) -> LoomError:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(LoomError) as info:
            loom.load(path, strict=True)
    return info.value
