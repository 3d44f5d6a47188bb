"""A missing optional dependency is named with the extra that installs it, not a bare ImportError.

Each case runs in a fresh interpreter where the package cannot be imported
(``sys.modules[name] = None``), as on a machine without the extra.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "parallel_marketing"


def run_without(module: str, code: str) -> subprocess.CompletedProcess[str]:
    shim = f"import sys\nsys.modules[{module!r}] = None\n" + code
    return subprocess.run([sys.executable, "-c", shim], capture_output=True, text=True,
                          timeout=60)


CASES = {
    "starlette": ("import loom.testing", "the test LLM server", "testing"),
    "uvicorn": ("from loom.testing import FakeLlmServer", "the test LLM server", "testing"),
    "psycopg": ("from loom.stores import open_store\nopen_store('postgresql://u@h/db')",
                "the PostgreSQL store needs psycopg 3", "postgres"),
    "opentelemetry": ("from loom.observability.otel import OpenTelemetryExporter",
                      "the OpenTelemetry exporter needs opentelemetry", "otel"),
    "graphviz": ("from loom.observability.graph import render\nrender('digraph {}', 'svg')",
                 "drawing SVG/PNG needs graphviz", "graph"),
    "a2a": ("from loom.spec.remote_agents import A2AAgent, A2AConnectionConfig\n"
            "conn = A2AConnectionConfig(name='c')\n"
            "loom.Runtime().run(A2AAgent(name='r', agent_url='http://x', connection_config=conn))",
            "an A2AAgent needs a2a-sdk", "a2a"),
    "matplotlib": ("from loom.observability.timeline import draw_timeline\n"
                   "draw_timeline([], 'x.png')", "drawing a timeline needs matplotlib", "graph"),
}


@pytest.mark.parametrize("module", sorted(CASES))
def test_missing_optional_dependency_names_its_extra(module: str) -> None:
    code, what, extra = CASES[module]
    wrapped = (
        "import loom\n"
        "try:\n" + "".join(f"    {line}\n" for line in code.splitlines()) +
        "except loom.MissingDependency as exc:\n"
        "    print(exc)\n"
        "    print(exc.extra)\n"
        "else:\n"
        "    print('no error')\n"
    )
    done = run_without(module, wrapped)
    assert done.returncode == 0, done.stderr
    message, named = done.stdout.strip().splitlines()
    assert what in message
    assert f". pip install 'loom[{extra}]'" in message
    assert named == extra


def test_cli_fake_llm_without_the_testing_extra_is_one_line_and_exit_2() -> None:
    code = (
        "from loom.cli import main\n"
        f"sys.exit(main(['run', {str(EXAMPLE / 'flow.json')!r}, "
        f"'--tools', {str(EXAMPLE / 'tools.py')!r}, '-i', 'username=alice', '--fake-llm']))\n"
    )
    done = run_without("uvicorn", code)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: the test LLM server (loom.testing, loom run --fake-llm) needs uvicorn, "
        "which is not installed. pip install 'loom[testing]'"
    ]
    assert done.stdout == ""
