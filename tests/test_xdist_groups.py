"""./scripts/test's two workers: which tests must share one (tests/xdist_groups.py)."""

from __future__ import annotations

from xdist_groups import xdist_group_of


def test_a_file_runs_whole_on_one_worker() -> None:
    assert xdist_group_of("tests/server/test_api.py::test_a[x::y]") == "tests/server/test_api.py"
    assert xdist_group_of("tests/server/test_api.py::Cls::test_b") == "tests/server/test_api.py"
    assert xdist_group_of("tests/test_readme.py::test_c") == "tests/test_readme.py"
    assert xdist_group_of("tests/server/test_api.py::test_d") != xdist_group_of(
        "tests/server/test_openapi.py::test_d")


def test_a_session_servers_directory_runs_whole_on_one_worker() -> None:
    # their session fixtures start the Temporal dev server and llama.cpp's: once, not twice
    assert {xdist_group_of("tests/temporal/test_retries.py::t"),
            xdist_group_of("tests/temporal/test_server_restart.py::t")} == {"temporal"}
    assert {xdist_group_of("tests/local/test_local_failures.py::t"),
            xdist_group_of("tests/local/test_agents.py::t")} == {"local"}
