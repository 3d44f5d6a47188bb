"""One error tree (loom.errors, importable from loom) and one formatter (describe)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import loom
import loom.errors as errors
from loom.errors import (
    ComponentRef,
    LlmHttpError,
    LoomError,
    NodeFailure,
    RunTakenOver,
    StepError,
    describe,
)
from loom.runtime.events import Emitter, RuntimeEvent, describe_exception


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def test_every_error_users_catch_lives_in_loom_errors_and_is_exported_by_loom() -> None:
    for info in pkgutil.walk_packages(loom.__path__, "loom."):
        importlib.import_module(info.name)  # so that every subclass is defined
    elsewhere = {
        f"{cls.__module__}.{cls.__qualname__}" for cls in _subclasses(LoomError)
        if cls.__module__ != "loom.errors"
    }
    assert elsewhere == {"loom.cli.setup.CommandError"}  # the CLI's own, never for users
    tree = {cls for cls in _subclasses(LoomError) if cls.__module__ == "loom.errors"}
    tree |= {LoomError, errors.LoomWarning, errors.VersionWarning}
    for cls in tree:
        assert getattr(loom, cls.__name__) is cls
        assert cls.__name__ in loom.__all__
        assert cls.__name__ in (errors.__doc__ or ""), f"{cls.__name__} is not in the drawn tree"
    assert not issubclass(StepError, LoomError)  # an internal signal


def test_describe_puts_node_component_location_and_hint_once() -> None:
    error = NodeFailure("input 'x' has no value", ("main", "step"), hint="give it a default")
    assert describe(error) == "main > step: input 'x' has no value. give it a default"
    assert describe(error, node=False) == "input 'x' has no value. give it a default"
    assert str(error) == describe(error) == error.describe()
    spec = errors.SpecError("bad name.", component=ComponentRef("LlmNode", "n", "i1"),
                            path="$.nodes[0]", hint="rename it")
    assert describe(spec) == "LlmNode 'n' (id i1): bad name. [at $.nodes[0]] rename it"
    assert describe(errors.LoadError("unreadable")) == "unreadable"  # no '. None'


def test_describe_names_the_type_of_foreign_exceptions_and_reads_step_errors() -> None:
    assert describe(ValueError("bad value")) == "ValueError: bad value"
    assert describe(KeyError()) == "KeyError"
    assert describe(ValueError("bad value"), typed=False) == "bad value"
    assert describe(StepError("tool refused", hint="answer true")) == "tool refused. answer true"


def test_an_llm_error_counts_its_attempts_in_its_text() -> None:
    error = LlmHttpError(503, "busy", url="http://x/v1", model="m", secret=None)
    error.note_attempts(3)
    assert str(error) == describe(error)
    assert describe(error).startswith(
        "LLM server at http://x/v1 (model 'm') answered HTTP 503: busy (gave up after 3 attempts)."
    )
    assert describe(error).count("check its logs") == 1


def test_the_exception_event_names_the_original_type_by_class() -> None:
    try:
        try:
            raise ConnectionError("backend unreachable")
        except ConnectionError as exc:
            raise NodeFailure("tool 'fail' raised ConnectionError: backend unreachable",
                              ("main", "fail")) from exc
    except NodeFailure as failure:
        assert describe_exception(failure) == (
            "ConnectionError", "tool 'fail' raised ConnectionError: backend unreachable")
    taken = RunTakenOver("run 'r' was taken over", hint="resume it")
    assert describe_exception(taken) == ("RunTakenOver", "run 'r' was taken over. resume it")


class NamedLikeASignal(Exception):
    pass


NamedLikeASignal.__name__ = "Suspended"


def test_a_foreign_class_named_like_loom_s_signals_is_still_an_error() -> None:
    seen: list[RuntimeEvent] = []
    events = Emitter([seen.append])
    events.exception(("main",), "main", NamedLikeASignal("boom"))
    assert [event.type for event in seen] == ["exception"]


@pytest.mark.parametrize("module", ["loom.runtime.state", "loom.runtime.errors", "loom.llm.errors"])
def test_the_old_homes_are_gone(module: str) -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(module)
