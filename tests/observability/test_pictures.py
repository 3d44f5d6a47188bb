"""``loom graph`` and ``loom timeline`` on the seed flow and on every valid config of
the conformance corpus; the live progress tree."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import loom
from loom.cli import main
from loom.errors import LoadError, PlanError
from loom.observability import TraceFile, read_trace
from loom.observability.graph import build_graph, to_dot, to_mermaid, write_graph
from loom.observability.progress import LiveProgress
from loom.observability.timeline import timeline_rows
from loom.spec.component import Component
from loom.spec.tools import ServerTool
from loom.spec.walk import walk
from loom.testing import FakeLlmServer, fake_instance
from shared_folder import CONFORMANCE, EXPECTATIONS_FILE, absent_case

from .conftest import SEED, seed_tools

LOADABLE = ("load", "load_lenient", "load_with_registry")
SECRET_VALUES = {  # what the corpus's datastore example needs at load time
    "oracle_tls_config_id.user": "scott",
    "oracle_tls_config_id.password": "tiger",
    "oracle_tls_config_id.dsn": "db.example.com:1522/service",
}
needs_dot = pytest.mark.usefixtures("graphviz_dot")


@pytest.fixture
def graphviz_dot() -> None:
    """SVG and PNG need Graphviz's dot: skip without it, except in CI (CI=true), where
    scripts/setup installs it (scripts/system-deps) and its absence is a failure."""
    if shutil.which("dot") is None:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail("CI=true but Graphviz's dot is missing: scripts/system-deps "
                        "(run by scripts/setup) installs it")
        pytest.skip("Graphviz's dot is not installed (scripts/system-deps installs it)")


def _valid_configs() -> list[Any]:
    if not EXPECTATIONS_FILE.is_file():
        return [absent_case(EXPECTATIONS_FILE)]  # skips, or fails under CI=true
    expectations = json.loads(EXPECTATIONS_FILE.read_text())
    return [pytest.param(rel, id=rel) for rel, e in sorted(expectations.items())
            if e["expect"] in LOADABLE]


def load_config(rel: str) -> Component:
    expectations = json.loads(EXPECTATIONS_FILE.read_text())
    registry: dict[str, Any] = {}
    if expectations[rel]["expect"] == "load_with_registry":
        suffix = Path(rel).suffix
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for other, e in sorted(expectations.items()):
                if e["expect"] == "registry" and Path(other).suffix == suffix:
                    registry = loom.load_registry(CONFORMANCE / other, registry=registry)
        registry.update(SECRET_VALUES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return loom.load(CONFORMANCE / rel, registry=registry or None)


# -- checks of the files ---------------------------------------------------------------


def check_svg(path: Path) -> ET.Element:
    root = ET.fromstring(path.read_bytes())
    assert root.tag.endswith("svg")
    assert root.findall(".//{http://www.w3.org/2000/svg}g"), "an empty picture"
    return root


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


MERMAID_LINE = re.compile(
    r'^(flowchart TD'
    r'|subgraph (?P<sub>c\d+) \["[^"]*"\]'
    r'|end'
    r'|direction TB'
    r'|(?P<node>n\d+)(\(\["[^"]*"\]\)|\["[^"]*"\]|\{"[^"]*"\}|>"[^"]*"\])'
    r'|(?P<src>[nc]\d+) (-->|-\.->)(\|"[^"]*"\|)? (?P<dst>[nc]\d+)'
    r'|classDef \w+ fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6},color:#[0-9a-f]{6}'
    r'|class [nc]\d+(,[nc]\d+)* \w+)$'
)


def check_mermaid(text: str) -> None:
    """The subset of Mermaid loom writes: every line one known statement, blocks
    closed, every edge between declared nodes or subgraphs."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0] == "flowchart TD"
    declared: set[str] = set()
    depth = 0
    edges = []
    for line in lines:
        match = MERMAID_LINE.match(line)
        assert match, f"not Mermaid loom writes: {line!r}"
        if match["sub"]:
            depth += 1
            declared.add(match["sub"])
        elif line == "end":
            depth -= 1
            assert depth >= 0
        elif match["node"]:
            declared.add(match["node"])
        elif match["src"]:
            edges.append((match["src"], match["dst"]))
    assert depth == 0
    assert all(a in declared and b in declared for a, b in edges)


# -- the seed flow -----------------------------------------------------------------------


@needs_dot
def test_graph_of_the_seed_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    svg, png, mmd = tmp_path / "flow.svg", tmp_path / "flow.png", tmp_path / "flow.mmd"
    for out in (svg, png, mmd):
        assert main(["graph", str(SEED), "-o", str(out)]) == 0
    root = check_svg(svg)
    texts = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"parallel_flow_node", "get_items_on_sale_flow", "prepare_marketing_message"} <= texts
    assert png_size(png)[0] > 400
    check_mermaid(mmd.read_text())
    assert "wrote" in capsys.readouterr().out
    assert main(["graph", str(SEED)]) == 0  # no -o: Mermaid on stdout
    check_mermaid(capsys.readouterr().out)


def test_the_seed_graph_model() -> None:
    graph = build_graph(loom.load(SEED), data=True)
    (parallel,) = graph.root.clusters
    assert parallel.name == "parallel_flow_node" and parallel.kind == "parallel"
    assert [c.name for c in parallel.clusters] == [
        "get_current_time_flow", "get_user_information_flow",
        "get_user_last_purchases_flow", "get_items_on_sale_flow"]
    control = [e for e in graph.edges if e.kind == "control"]
    data = [e for e in graph.edges if e.kind == "data"]
    assert len(control) == 4 + 4 * 2 and len(data) >= 6
    into = [e for e in control if e.target_cluster == parallel.id]
    assert len(into) == 1 and graph.nodes[into[0].source].kind == "start"
    dot = to_dot(graph)
    assert "compound=true" in dot and f"lhead=cluster_{parallel.id}" in dot
    assert "-.->" in to_mermaid(graph)


def test_graph_refuses_an_unknown_format(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(SEED), "-o", str(tmp_path / "flow.gif")]) == 1
    assert "cannot tell the picture format" in capsys.readouterr().err


def test_timeline_of_the_seed_run(seed_runtime: Any, tmp_path: Path) -> None:
    trace = tmp_path / "run.jsonl"
    with TraceFile(trace) as listener:
        seed_runtime(listeners=[listener]).run(SEED, {"username": "alice"})
    rows = timeline_rows(read_trace(trace))
    assert [r.label for r in rows] == [
        "parallel_flow_node", "get_current_time_step", "get_user_information_step",
        "get_user_last_purchases_step", "get_items_on_sale_step",
        "prepare_marketing_message", "output_message"]
    assert [r.depth for r in rows] == [0, 1, 1, 1, 1, 0, 0]
    assert [r.guide for r in rows[1:5]] == ["├─ ", "├─ ", "├─ ", "└─ "]
    branch_bars = [r.bars[0] for r in rows[1:5]]
    assert max(b.start for b in branch_bars) < min(b.end for b in branch_bars)
    out = tmp_path / "timeline.png"
    assert main(["timeline", str(trace), "-o", str(out)]) == 0
    width, height = png_size(out)
    assert width > 1000 and height > 300
    assert main(["timeline", str(trace), "-o", str(tmp_path / "timeline.svg")]) == 0
    check_svg(tmp_path / "timeline.svg")


def test_timeline_collapses_many_branches(tmp_path: Path) -> None:
    from loom.spec import ParallelMapNode

    from .conftest import chain, text, tool_step

    inner = chain("item_flow", [tool_step("double", "doubled", ["item"])],
                  inputs=["item"], outputs=["doubled"])
    node = ParallelMapNode(name="each", subflow=inner, inputs=[
        loom.spec.ListProperty(title="iterated_item", item_type=text("item"))])
    flow = chain("mapper", [node], inputs=["iterated_item"])
    flow.start_node.inputs = [loom.spec.ListProperty(title="iterated_item",
                                                     item_type=text("item"))]
    flow.inputs = list(flow.start_node.inputs)
    trace = tmp_path / "map.jsonl"
    with TraceFile(trace) as listener:
        runtime = loom.Runtime(tools={"double": lambda item: item * 2}, listeners=[listener],
                               use_env=False)
        result = runtime.run(flow, {"iterated_item": [str(i) for i in range(40)]})
        runtime.close()
    assert result.status == "finished"
    rows = timeline_rows(read_trace(trace))
    assert len(rows) == 1 + 12
    assert rows[-1].collapsed and rows[-1].label == "… 29 more branches"
    assert len(rows[-1].bars) == 29
    assert main(["timeline", str(trace), "-o", str(tmp_path / "map.png")]) == 0


def test_timeline_of_a_missing_or_broken_trace(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["timeline", str(tmp_path / "nope.jsonl")]) == 1
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    assert main(["timeline", str(broken)]) == 1
    assert "line 1: not JSON" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["timeline", str(empty)]) == 0
    png_size(empty.with_suffix(".png"))


# -- every valid config of the conformance corpus -----------------------------------------


@needs_dot
@pytest.mark.parametrize("rel", _valid_configs())
def test_graph_of_every_valid_config(rel: str, tmp_path: Path) -> None:
    path = CONFORMANCE / rel
    svg, mmd = tmp_path / "graph.svg", tmp_path / "graph.mmd"
    if json.loads(EXPECTATIONS_FILE.read_text())[rel]["expect"] == "load_with_registry":
        component = load_config(rel)  # needs secret values no file holds: the API
        write_graph(component, svg, data=True)
        write_graph(component, mmd, data=True)
    else:
        assert main(["graph", str(path), "-o", str(svg), "--data"]) == 0
        assert main(["graph", str(path), "-o", str(mmd), "--data"]) == 0
    check_svg(svg)
    check_mermaid(mmd.read_text())


@pytest.fixture(scope="module")
def stub_llm() -> Any:
    with FakeLlmServer() as server:
        yield server


def stub_tools(component: Component) -> dict[str, Any]:
    """Every ServerTool answers a value made from its declared outputs."""
    tools = {}
    for tool in walk(component):
        if isinstance(tool, ServerTool):
            outputs = list(tool.outputs or [])

            def answer(*_: Any, _outputs: list[Any] = outputs, **__: Any) -> Any:
                if len(_outputs) == 1:
                    return fake_instance(_outputs[0].json_schema)
                return {p.title: fake_instance(p.json_schema) for p in _outputs}

            tools[tool.name] = answer
    return tools


# Valid configs whose root is neither a flow nor an agent: nothing to run.
NOT_RUNNABLE = {
    "docs_examples/howto_oracle_datastore.json": "OracleDatabaseDatastore",
    "sdk_test_configs/example_serialized_llm_node.yaml": "LlmNode",
    "sdk_test_configs/example_serialized_llm_node_as_nested_reference.yaml": "LlmNode",
    "sdk_test_configs/example_serialized_llm_node_as_versioned_nested_reference.yaml": "LlmNode",
    "sdk_test_configs/example_serialized_llm_node_without_agentspec_version.yaml": "LlmNode",
    "sdk_test_configs/invalid/example_serialized_llm_node_with_misplaced_agentspec_version.yaml":
        "LlmNode",
    "sdk_test_configs/ocigenaiconfig.yaml": "OciGenAiConfig",
}
# Flows holding a component loom has no client for: refused when compiled, nothing runs.
CANNOT_RUN = {
    "docs_examples/howto_ociagent.json": "OciAgent",
    "docs_examples/howto_ociagent.yaml": "OciAgent",
    "sdk_test_configs/ociagent.yaml": "OciAgent",
    "sdk_test_configs/example_serialized_agent_with_tools_and_builtin_tools.yaml": "BuiltinTool",
    "sdk_test_configs/example_tools_with_confirmation_25_4_2.yaml": "BuiltinTool",
}


@pytest.mark.parametrize("rel", _valid_configs())
def test_timeline_of_every_runnable_config(rel: str, tmp_path: Path, stub_llm: Any) -> None:
    component = load_config(rel)
    runtime = loom.Runtime(tools=stub_tools(component), llm={"url": stub_llm.url},
                           use_env=False)
    if rel in NOT_RUNNABLE:
        with pytest.raises(LoadError) as refused:
            runtime.load(component)
        runtime.close()
        assert refused.value.message.startswith(f"{NOT_RUNNABLE[rel]} '")
        assert "cannot be run: loom runs Flows and agents" in refused.value.message
        pytest.skip(f"its root is a {NOT_RUNNABLE[rel]}: loom runs flows and agents")
    flow = runtime.load(component)  # any other refusal is a regression: it fails here
    if rel in CANNOT_RUN:
        with pytest.raises(PlanError, match=f"{CANNOT_RUN[rel]} '.*cannot run in loom"):
            runtime.compile(flow)
        runtime.close()
        pytest.skip(f"it holds a {CANNOT_RUN[rel]}, which loom has no client for")
    trace = tmp_path / "run.jsonl"
    with TraceFile(trace) as listener, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runtime.listeners.append(listener)
        inputs = {p.title: fake_instance(p.json_schema) for p in flow.inputs or []}
        result = runtime.run(flow, inputs)  # finished, failed or waiting: all are drawn
        runtime.close()
    spans = read_trace(trace)
    assert spans and spans[0].parent_id is None
    assert spans[0].status == {"finished": "ok", "failed": "error",
                               "waiting": "waiting"}[result.status]
    out = tmp_path / "timeline.png"
    assert main(["timeline", str(trace), "-o", str(out)]) == 0
    assert png_size(out)[0] > 500


# -- live progress ---------------------------------------------------------------------------


def test_live_progress_draws_the_branches_side_by_side(seed_runtime: Any) -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=200, color_system=None)
    progress = LiveProgress(console, refresh_per_second=20)
    frames: list[str] = []

    def snapshot(event: Any) -> None:
        if event.type == "tool_end" and not frames:
            capture = Console(file=io.StringIO(), width=200, color_system=None)
            capture.print(progress.render())
            frames.append(capture.file.getvalue())  # type: ignore[attr-defined]

    result = seed_runtime(tools=seed_tools(0.2), listeners=[progress, snapshot]).run(
        SEED, {"username": "alice"})
    progress.close()
    assert result.status == "finished"
    running = frames[0]
    # The four branches share lines: they are drawn in columns, side by side.
    line = next(line for line in running.splitlines() if "get_current_time_flow" in line)
    assert "get_user_information_flow" in line
    assert "parallel_flow_node" in running and "ParallelFlowNode" in running
    final = console.file.getvalue()  # type: ignore[attr-defined]
    assert "✓ marketing_message_flow" in final
    assert "prepare_marketing_message" in final and "chunks" in final


def test_live_progress_only_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from argparse import Namespace

    from loom.observability.run_options import live_wanted

    terminal = Console(file=io.StringIO(), force_terminal=True)
    pipe = Console(file=io.StringIO())
    assert live_wanted(Namespace(quiet=False, json=False), terminal)
    assert not live_wanted(Namespace(quiet=True, json=False), terminal)
    assert not live_wanted(Namespace(quiet=False, json=True), terminal)
    assert not live_wanted(Namespace(quiet=False, json=False), pipe)
    assert main(["run", str(SEED), "--tools", str(SEED.parent / "tools.py"), "-i",
                 "username=a", "--fake-llm"]) == 0
    captured = capsys.readouterr()
    assert "⠋" not in captured.err and "✓" not in captured.err  # plain: not a terminal
