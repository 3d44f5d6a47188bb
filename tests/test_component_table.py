"""The README's component table lists every component type of the installed
pyagentspec (26.3.1), says loom models each, and marks "plan time" exactly the
types that loom's compiler refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loom.runtime.runnable import LLM_NEEDS, NEEDS
from loom.spec.component import COMPONENT_TYPES

README = Path(__file__).resolve().parents[1] / "README.md"
_NAME = re.compile(r"`(\w+)`")


def table_rows() -> list[tuple[list[str], str, str]]:
    """(component names, models, runs) of each row of the README's Components table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n### Components\n", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows.append((_NAME.findall(cells[0]), cells[1], cells[2]))
    return rows


def sdk_component_types() -> set[str]:
    pytest.importorskip("pyagentspec", reason="pyagentspec (the test oracle) is not installed")
    from pyagentspec._component_registry import BUILTIN_CLASS_MAP

    return {name for name, cls in BUILTIN_CLASS_MAP.items() if not cls._is_abstract}


def test_the_table_lists_every_sdk_component_type_once() -> None:
    listed = [name for names, _, _ in table_rows() for name in names]
    assert len(listed) == len(set(listed)), "a type is listed twice"
    sdk = sdk_component_types()
    assert sorted(sdk - set(listed)) == [], "the README's component table misses these"
    assert sorted(set(listed) - sdk) == [], "the README lists types pyagentspec does not have"


def test_every_listed_type_is_modelled() -> None:
    for names, models, _ in table_rows():
        assert models.startswith("yes"), names
        for name in names:
            assert name in COMPONENT_TYPES, name


def test_plan_time_rows_are_what_the_compiler_refuses() -> None:
    refused = {cls.__name__ for cls, *_ in (*NEEDS, *LLM_NEEDS)}
    marked = {name for names, _, runs in table_rows() if runs.startswith("no: plan time")
              for name in names
              if not name.endswith("ConnectionConfig")}  # parts of the datastores
    assert marked == refused
