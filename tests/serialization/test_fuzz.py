"""Fuzzing the loader: whatever the text, ``loom.loads`` ends in a component or a
LoomError, quickly; and what loaded dumps and loads again the same way.

The generators are bench/fuzz.py's (the long run: ``python bench/fuzz.py``); here
hypothesis draws a bounded number of them, plus wrong values at every field of the
conformance corpus.
"""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared_folder import CONFORMANCE, require

# Fuzzed documents warn as loom should (unknown fields, versions); warnings are not findings.
pytestmark = pytest.mark.filterwarnings("ignore::loom.LoomWarning")

BENCH_FUZZ = Path(__file__).resolve().parents[2] / "bench" / "fuzz.py"
SETTINGS = settings(
    max_examples=100,
    deadline=timedelta(seconds=20),  # a 10 MB string or 100,000 brackets take ~1 s here
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@lru_cache(maxsize=1)
def fuzz() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_loom_bench_fuzz", BENCH_FUZZ)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=1)
def corpus() -> list[tuple[str, str, Any]]:
    found: list[tuple[str, str, Any]] = fuzz().load_corpus(require(CONFORMANCE))
    assert found, f"{CONFORMANCE} holds no JSON/YAML file"
    return found


def loads_or_refuses(text: str, fmt: str) -> None:
    assert fuzz().check(text, fmt) in ("component", "error")


@pytest.fixture(autouse=True)
def _corpus_present() -> None:
    corpus()  # skips outside CI, fails under CI=true, when the corpus is absent


@SETTINGS
@given(seed=st.integers(min_value=0, max_value=2**63))
def test_a_mutated_or_generated_document_loads_or_is_refused(seed: int) -> None:
    loads_or_refuses(*fuzz().make_input(seed, corpus()))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@SETTINGS
@given(data=st.data())
def test_any_value_at_any_field_of_the_corpus_loads_or_is_refused(data: st.DataObject) -> None:
    docs = [(fmt, doc) for _, fmt, doc in corpus() if isinstance(doc, (dict, list))]
    fmt, doc = data.draw(st.sampled_from(docs))
    doc = json.loads(json.dumps(doc))
    path = data.draw(st.sampled_from(fuzz()._paths(doc)[1:]))
    value = data.draw(JSON_VALUES | st.sampled_from([{"$component_ref": "nothing"}, "\ud800"]))
    fuzz()._at(doc, path[:-1])[path[-1]] = value
    text = json.dumps(doc) if fmt == "json" else yaml.safe_dump(doc, sort_keys=False)
    loads_or_refuses(text, fmt)


def test_the_generators_reach_every_kind_of_input() -> None:
    """The generators keep making what the issue names (a guard on the fuzzer itself)."""
    texts = [fuzz().make_input(seed, corpus())[0] for seed in range(400)]
    assert any("[" * 10_000 in t for t in texts)  # deep nesting
    assert any("*a5" in t for t in texts)  # alias bombs
    assert any("9" * 4301 in t for t in texts)  # huge numbers
    assert any(len(t) > 1_000_000 for t in texts)  # huge strings
    assert any("\udcff" in t for t in texts)  # invalid UTF-8 (surrogateescape)
    assert any('"$component_ref": "missing"' in t for t in texts)  # references to nothing


# -- what the fuzzer found ---------------------------------------------------------------------


def test_a_ten_megabyte_string_dumps_to_yaml_in_bounded_time() -> None:
    import time

    import loom

    flow = loom.loads(fuzz().FLOW_YAML.replace("name: flow", "name: " + "y" * 10**7), format="yaml")
    start = time.perf_counter()
    text = loom.dumps(flow, "yaml")
    assert time.perf_counter() - start < 5  # the pure-Python dumper took 15 s
    assert loom.loads(text, format="yaml").name == flow.name


def test_a_lone_surrogate_in_a_python_str_is_refused_as_in_a_file() -> None:
    """A str from Python may hold a raw lone surrogate, which no file can: loads refuses
    it as it refuses JSON's escaped one, in JSON and in YAML."""
    import loom

    json_text = json.dumps(yaml.safe_load(fuzz().FLOW_YAML)).replace('"flow"', '"a\udcffb"')
    yaml_text = fuzz().FLOW_YAML.replace("name: flow", "name: a\udcffb")
    for text, fmt in ((json_text, "json"), (yaml_text, "yaml")):
        with pytest.raises(loom.LoadError) as caught:
            loom.loads(text, format=fmt)
        assert str(caught.value) == "<text> holds a lone surrogate (\\uD800-\\uDFFF)"


def test_a_component_named_with_a_lone_surrogate_dumps_to_yaml() -> None:
    """Built in Python (no file can carry one): libyaml's dumper raised UnicodeEncodeError."""
    import loom

    flow = loom.loads(fuzz().FLOW_YAML, format="yaml").model_copy(update={"name": "a\udcffb"})
    assert "a\\uDCFFb" in loom.dumps(flow, "yaml")


@pytest.mark.parametrize("key", ["null", "~", "1.5", "2001-12-14", "[a, b]", "{a: 1}"])
def test_a_yaml_key_that_is_not_a_string_loads_or_is_refused(key: str) -> None:
    """``null: x`` inside a component: rendering its path raised AttributeError."""
    text = fuzz().FLOW_YAML.replace("name: flow", f"name: flow\n? {key}\n: x")
    loads_or_refuses(text, "yaml")
    loads_or_refuses(text.replace("name: start,", f"name: start, {key}: x,"), "yaml")
