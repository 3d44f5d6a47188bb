"""The conformance corpus beside the repository, for the serialization tests."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

import loom
from loom.spec.component import Component
from loom.spec.walk import walk
from shared_folder import CONFORMANCE, EXPECTATIONS_FILE, absent_case

LOADABLE = ("load", "load_lenient", "load_with_registry")

# Values supplied at load time for references to single fields (secrets).
SECRET_VALUES: dict[str, str] = {
    "oracle_tls_config_id.user": "scott",
    "oracle_tls_config_id.password": "tiger",
    "oracle_tls_config_id.dsn": "db.example.com:1522/service",
}


def _expectations() -> dict[str, dict[str, str]]:
    if not EXPECTATIONS_FILE.is_file():
        return {}
    return json.loads(EXPECTATIONS_FILE.read_text(encoding="utf-8"))


EXPECTATIONS = _expectations()


def cases(*kinds: str) -> list[Any]:
    """pytest params, one per corpus file whose expectation is one of ``kinds``."""
    found = [
        pytest.param(rel, id=rel)
        for rel, e in sorted(EXPECTATIONS.items())
        if e["expect"] in kinds
    ]
    if found:
        return found
    if not EXPECTATIONS_FILE.is_file():
        return [absent_case(EXPECTATIONS_FILE)]  # skips, or fails under CI=true
    reason = f"expectations.json lists no {'/'.join(kinds)} case"
    return [pytest.param(None, id="none", marks=pytest.mark.skip(reason=reason))]


def stem(rel: str) -> str:
    """The case name shared by a file's .json and .yaml twins."""
    return Path(rel).with_suffix("").as_posix()


def quiet_load(path: Path, **kwargs: Any) -> Component:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return loom.load(path, **kwargs)


def registry_for(rel: str) -> dict[str, Any]:
    """What a corpus file may need at load time: the registry documents of the corpus
    in the same format, plus the secret values."""
    registry: dict[str, Any] = {}
    suffix = Path(rel).suffix
    for other, expectation in sorted(EXPECTATIONS.items()):
        if expectation["expect"] == "registry" and Path(other).suffix == suffix:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                registry = loom.load_registry(CONFORMANCE / other, registry=registry)
    registry.update(SECRET_VALUES)
    return registry


def secrets_of(root: Component) -> dict[str, Any]:
    """``{"<id>.<field>": value}`` for every sensitive field that holds a value: the
    registry a document written without secrets needs to load again."""
    return {
        f"{component.id}.{name}": getattr(component, name)
        for component in walk(root)
        for name in type(component).sensitive_fields
        if getattr(component, name, None)
    }
