"""How pytest-xdist splits the suite (./scripts/test runs `-n 2 --dist loadgroup`): a worker
runs whole groups, one per file, so module fixtures (servers) start once, and one per
directory below, whose session fixtures start a slow server (the Temporal dev server,
llama.cpp's) that a second worker would start again. Used by tests/conftest.py's scheduler:
xdist's own `xdist_group` marks rename node ids, which pytest 9.2 no longer reads."""

from __future__ import annotations

SESSION_SERVER_DIRS = ("local", "temporal")


def xdist_group_of(nodeid: str) -> str:
    """The group of a node id (``tests/DIR/test_x.py::test_y[...]``)."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[1] in SESSION_SERVER_DIRS else path
