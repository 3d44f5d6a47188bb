"""The shape of src/loom: no import cycle between packages, no hidden imports, small modules.

The rule for cycles. A package is a directory of src/loom (loom, loom.spec,
loom.spec.nodes, loom.runtime, loom.runtime.agents, ...); a package and its own
subpackages are packages like any other, so runtime -> runtime.agents ->
runtime is a cycle. Package P depends on Q when a module of P imports a module
of Q when it is imported: top-level imports, relative ones resolved, not those
under ``if TYPE_CHECKING:`` nor those inside functions (which the second rule
forbids). One exception makes re-exports possible: an ``__init__.py`` is its
package's facade, and its imports of its own subtree are not edges of the
package (the facade shows what lies below; the package is not built on it).
Importing a facade, in turn, counts as importing all that the facade
re-exports, so ``from loom.runtime import X`` inside runtime.agents is a cycle.
The graph of packages must have no cycle.

The rule for hidden imports: no function imports ``loom.*`` (nor calls
``importlib.import_module``/``__import__``) except the allow-list below, each
for an optional dependency or a stated reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
CORE = ("spec", "serialization", "runtime", "llm", "stores")
MODULE_LIMIT = 30 * 1024
# The core is those packages plus loom's top-level modules (errors, runs, the
# shared checks and caches), which it imports. It was 440 KB before Agent Spec
# 26.3.1, the Responses API, the load policy, the effects door (Temporal), run
# events in the stores and resume secrets: 497 KB after them. 512 KiB is the
# next budget; the protocol clients, the server, the studio, the local model and
# the Temporal backend live in packages of their own, outside the core.
CORE_LIMIT = 512 * 1024

# (importing module, imported module or "importlib"): why it may import inside a function.
LAZY_ALLOWED = {
    ("loom.cli.run", "loom.testing"):
        "--fake-llm starts loom's test LLM server, which needs starlette and uvicorn",
    ("loom.cli.serve", "loom.server.app"):
        "loom serve needs starlette and uvicorn (loom[server]); `loom --help` must not",
    ("loom.cli.serve", "loom.server.config"):
        "loom serve needs starlette and uvicorn (loom[server]); `loom --help` must not",
    ("loom.cli.worker", "loom.temporal"):
        "`loom worker` needs temporalio (loom[temporal]), which other commands do not",
    ("loom.cli.claims", "loom.temporal"):
        "`loom claims` needs temporalio (loom[temporal]), which other commands do not",
    ("loom.cli.setup", "loom.temporal"):
        "--backend temporal://... needs temporalio (loom[temporal]), the local backend not",
    ("loom.server.app", "loom.server.temporal_runs"):
        "loom serve --backend temporal://... needs temporalio (loom[temporal]); serving "
        "runs locally does not",
    ("loom._optional", "importlib"):
        "require() imports optional third-party packages by name (never a loom module)",
    ("loom.cli", "importlib"):
        "the subcommands, modules of loom.cli itself, are found by name in SUBCOMMANDS",
}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class Import:
    target: str  # the longest module of src/loom it names
    line: int
    in_function: bool


def modules() -> dict[str, Module]:
    found = {}
    for path in sorted((SRC / "loom").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = Module(".".join(parts), path, is_package)
    return found


MODULES = modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _longest(name: str) -> str:
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def _targets(module: Module, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.package.split(".")
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    named = [f"{base}.{alias.name}" for alias in node.names]
    return [name if name in MODULES else base for name in named]


def imports(module: Module) -> Iterator[Import]:
    def walk(body: list[ast.stmt], in_function: bool) -> Iterator[Import]:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, node):
                    if target == "loom" or target.startswith("loom."):
                        yield Import(_longest(target), node.lineno, in_function)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                yield from walk(node.orelse, in_function)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from walk(node.body, True)
            else:
                for field in ("body", "orelse", "finalbody"):
                    inner = getattr(node, field, None)
                    if isinstance(inner, list):
                        yield from walk(inner, in_function)
                for block in getattr(node, "handlers", []) + getattr(node, "cases", []):
                    yield from walk(block.body, in_function)

    yield from walk(ast.parse(module.path.read_text()).body, False)


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def facade_packages(package: str) -> set[str]:
    """The package and every package its ``__init__`` re-exports from, transitively."""
    found = {package}
    for imported in imports(MODULES[package]):
        target = MODULES[imported.target]
        if imported.in_function or not _within(target.package, package):
            continue
        if target.package not in found:
            found |= facade_packages(target.package) if target.is_package else {target.package}
    return found


def package_graph() -> dict[str, dict[str, str]]:
    """package -> {package it depends on: one import that makes it so}."""
    graph: dict[str, dict[str, str]] = {}
    for module in MODULES.values():
        edges = graph.setdefault(module.package, {})
        for imported in imports(module):
            if imported.in_function:
                continue
            target = MODULES[imported.target]
            reached = facade_packages(target.name) if target.is_package else {target.package}
            for package in reached:
                if module.is_package and _within(package, module.package):
                    continue  # the facade re-exports its own subtree
                if package != module.package:
                    edges.setdefault(package, f"{module.name}:{imported.line} -> {target.name}")
    return graph


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for successor in graph.get(node, {}):
            if state.get(successor) == 1:
                return path[path.index(successor):] + [successor]
            if successor not in state:
                cycle = visit(successor)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_walk_sees_every_kind_of_import() -> None:
    """The rules are only as good as the walk: check it on the modules it must read."""
    graph = package_graph()
    assert "loom.runtime" in graph["loom.runtime.agents"]  # absolute, top level
    assert "loom.stores" in graph["loom.runtime.host"]
    assert "loom.runtime.agents" not in graph["loom.runtime"]  # only the facade re-exports
    assert "loom.spec.nodes" in graph["loom.spec.flows"]
    # TYPE_CHECKING imports are not edges: spec.nodes.subflows names Flow only for mypy.
    assert "loom.spec.flows" not in graph["loom.spec.nodes"]
    lazy = {(m.name, i.target) for m in MODULES.values() for i in imports(m) if i.in_function}
    assert ("loom.cli.run", "loom.testing") in lazy


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    cycle = find_cycle(graph)
    if cycle:
        steps = [f"{a} -> {b} ({graph[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False)]
        raise AssertionError("import cycle between packages:\n  " + "\n  ".join(steps))


def _dynamic_imports(module: Module) -> Iterator[int]:
    for node in ast.walk(ast.parse(module.path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                yield node.lineno


def test_no_function_imports_loom_except_the_allowed_ones() -> None:
    found = {}
    for module in MODULES.values():
        for imported in imports(module):
            if imported.in_function:
                found[(module.name, imported.target)] = f"{module.path.name}:{imported.line}"
        for line in _dynamic_imports(module):
            found[(module.name, "importlib")] = f"{module.path.name}:{line}"
    hidden = {key: where for key, where in found.items() if key not in LAZY_ALLOWED}
    assert not hidden, f"imports of loom inside functions (move them to the top): {hidden}"
    stale = set(LAZY_ALLOWED) - set(found)
    assert not stale, f"allowed but no longer needed, remove from LAZY_ALLOWED: {stale}"


def test_modules_are_small_and_the_core_stays_under_its_budget() -> None:
    sizes = {module.name: module.path.stat().st_size for module in MODULES.values()}
    large = {name: size for name, size in sizes.items() if size >= MODULE_LIMIT}
    assert not large, f"modules of 30 KiB or more: {large}"
    core = sum(
        size for name, size in sizes.items()
        if any(_within(name, f"loom.{package}") for package in CORE)
        or (name.count(".") == 1 and not MODULES[name].is_package)
    )
    assert core < CORE_LIMIT, f"the core is {core} bytes, over {CORE_LIMIT}"
