"""Fuzz the loader: every input ends in a component or a ``loom.LoomError``.

``python bench/fuzz.py [--inputs 100000] [--workers 2] [--timeout 10] [--memory-mb 1024]``

Inputs are the conformance corpus mutated (wrong types at every field, fields
dropped, duplicate ids, references to nothing, deep values, text flips, invalid
UTF-8) and documents made from nothing (deep nesting, alias bombs, huge numbers
and strings, tags). Input ``i`` is a pure function of ``(seed, i)``, so a crash
is reproduced from its number alone. Each input runs in a child process that
caps its own address space (RLIMIT_AS); one that outlives ``--timeout`` is a
hang and its child is killed. Crashes (any exception but LoomError) and hangs
are saved under ``--out``; the table reports them with the children's peak RSS.

tests/serialization/test_fuzz.py runs the same generators under hypothesis.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import os
import random
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

SHARED_DIR = Path(os.environ.get("LOOM_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
CONFORMANCE = SHARED_DIR / "conformance"
SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}
DEEP = "\x00deep\x00"
HUGE = "\x00huge\x00"
"""Sentinels replaced in the text by a deeply nested list and a huge integer (which json
and yaml cannot write, and Python cannot even make from a string past 4,300 digits)."""

Corpus = list[tuple[str, str, Any]]
"""(text, format, parsed data or None) per corpus file."""


def load_corpus(root: Path = CONFORMANCE) -> Corpus:
    corpus: Corpus = []
    for path in sorted(root.rglob("*")):
        fmt = SUFFIXES.get(path.suffix)
        if fmt is None or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        try:
            data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError):
            data = None
        corpus.append((text, fmt, data))
    return corpus


# --------------------------------------------------------------------------- values


def hostile_value(rng: random.Random) -> Any:
    """A value of a wrong type, size or meaning for whatever field it lands in."""
    choice = rng.randrange(22)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 1, 2**63, -(2**64), rng.randrange(-10**6, 10**6)])
    if choice == 3:
        return HUGE
    if choice == 4:
        return rng.choice([math.nan, math.inf, -math.inf, 1e308, -0.0, 0.5])
    if choice == 5:
        return "x" * rng.choice([1, 1000, 100_000, 2_000_000])
    if choice == 6:
        return rng.choice(["", " ", "\ud800", "a\udcffb", "\x00", "{{x}}", "${x}", "\u202e"])
    if choice == 7:
        return []
    if choice == 8:
        return {}
    if choice == 9:
        return [hostile_value(rng) for _ in range(rng.randrange(1, 4))]
    if choice == 10:
        return {rng.choice(["a", "type", "id", "$component_ref"]): hostile_value(rng)}
    if choice == 11:
        return {"$component_ref": rng.choice(["nothing", "", 5, None, ["x"]])}
    if choice == 12:
        return {"component_type": rng.choice([["Flow"], {"a": 1}, 5, None, "Nope", "Flow"])}
    if choice == 13:
        return DEEP
    if choice == 14:
        return {"component_type": rng.choice(["StartNode", "EndNode", "Flow", "Agent", "LlmNode"]),
                "id": rng.choice(["s", "e", "f", "dup"]), "name": "n"}
    if choice == 15:
        return {"type": rng.choice([5, [1, 2], "strnig", "object", "array", None]),
                "title": rng.choice(["t", 5, None])}
    if choice == 16:
        return {"anyOf": rng.choice([True, 5, [], [5], [{"type": 1}]]), "title": "t"}
    if choice == 17:
        return {"type": "object", "properties": rng.choice(["abc", 5, {"a": 5}, {"a": {"$component_ref": "x"}}])}
    if choice == 18:
        return {"type": "array", "items": rng.choice([5, "x", [], {"type": [1]}, True])}
    if choice == 19:
        return rng.choice(["25.4.1", "26.1.0", "0.0.0", "99.99.99", "abc", "1.x"])
    if choice == 20:
        return rng.choice(["Flow", "StartNode", "ControlFlowEdge", "DataFlowEdge", "Agent"])
    return {"loom": {"max_concurrency": hostile_value(rng), "branch_timeout": "abc"}}


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``data``."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def _ids(data: Any) -> list[Any]:
    found = (_at(data, p) for p in _paths(data) if p and p[-1] == "id")
    return [value for value in found if isinstance(value, str)]  # a shared dict could loop


def mutate_data(rng: random.Random, data: Any) -> Any:
    """A copy of parsed ``data`` with one to four hostile edits."""
    data = json.loads(json.dumps(data))
    for _ in range(rng.randrange(1, 5)):
        paths = _paths(data)
        path = rng.choice(paths)
        kind = rng.randrange(6)
        if not path:
            data = hostile_value(rng) if kind == 0 else data
            continue
        parent, key = _at(data, path[:-1]), path[-1]
        if kind <= 1:
            parent[key] = hostile_value(rng)
        elif kind == 2 and isinstance(parent, dict):
            del parent[key]
        elif kind == 2:
            parent.pop(key)
        elif kind == 3:  # one id for two components
            ids = _ids(data)
            if ids:
                parent[key] = rng.choice(ids) if path[-1] == "id" else parent[key]
                for p in _paths(data):
                    if p and p[-1] == "id" and rng.random() < 0.2:
                        with contextlib.suppress(KeyError, IndexError, TypeError):
                            owner = _at(data, p[:-1])  # gone if an outer "id" was changed
                            if isinstance(owner, dict):
                                owner["id"] = rng.choice(ids)
        elif kind == 4:  # a reference to nothing, or to something of the wrong kind
            ids = _ids(data) or ["x"]
            parent[key] = {"$component_ref": rng.choice([*ids, "missing"])}
        elif isinstance(parent, dict):
            parent[rng.choice(["unknown", "$referenced_components", "component_type",
                               "metadata", "id"])] = hostile_value(rng)
    return data


def _text(data: Any, fmt: str, rng: random.Random) -> str:
    if fmt == "json":
        text = json.dumps(data, ensure_ascii=rng.random() < 0.5)
    else:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    depth = rng.choice([100, 1000, 10_000, 100_000])
    digits = "9" * rng.choice([4300, 4301, 5000, 20_000])
    for sentinel, value in ((DEEP, "[" * depth + "]" * depth), (HUGE, digits)):
        for quoted in (json.dumps(sentinel), yaml.safe_dump(sentinel).split("\n")[0], sentinel):
            text = text.replace(quoted, value)
    return text


def mutate_text(rng: random.Random, text: str) -> str:
    """Bytes flipped, cut, repeated or made invalid UTF-8."""
    raw = bytearray(text.encode("utf-8", errors="surrogateescape"))
    for _ in range(rng.randrange(1, 6)):
        if not raw:
            break
        at = rng.randrange(len(raw))
        kind = rng.randrange(6)
        if kind == 0:
            raw[at] = rng.randrange(256)
        elif kind == 1:
            del raw[at: at + rng.randrange(1, 64)]
        elif kind == 2:
            raw[at:at] = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"&a ", b"*a",
                                     b"!!python/object:os.system ", b"{", b"}", b"[", b"]",
                                     b":", b"\n  ", b"- ", b"'", b'"', b"\\u", b"<<: *a"])
        elif kind == 3:
            end = min(len(raw), at + rng.randrange(1, 200))
            raw[at:at] = raw[at:end] * rng.randrange(2, 8)
        elif kind == 4:
            del raw[at:]
        else:
            raw[at:at] = str(rng.randrange(10**40)).encode()
    return raw.decode("utf-8", errors="surrogateescape")


# --------------------------------------------------------------------------- from nothing

FLOW_YAML = """\
component_type: Flow
id: f
name: flow
start_node: {$component_ref: s}
nodes: [{$component_ref: s}, {$component_ref: e}]
control_flow_connections:
- {component_type: ControlFlowEdge, id: c, name: c, from_node: {$component_ref: s}, to_node: {$component_ref: e}}
data_flow_connections: null
$referenced_components:
  s: {component_type: StartNode, id: s, name: start, inputs: [&text {title: text, type: string}]}
  e: {component_type: EndNode, id: e, name: end, inputs: [*text]}
agentspec_version: 25.4.1
"""


def _alias_bomb(rng: random.Random) -> str:
    levels, width = rng.randrange(2, 14), rng.randrange(2, 12)
    key = rng.choice(["metadata", "unknown", "description"])
    lines = [FLOW_YAML.rstrip(), f"{key}:", f"  a0: &a0 [{', '.join(['x'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"  a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def generated(rng: random.Random) -> tuple[str, str]:
    """A document made from nothing: deep, aliased, huge or tagged."""
    n = rng.choice([10, 1000, 10_000, 100_000])
    kind = rng.randrange(11)
    if kind == 0:
        return "[" * n + "]" * n, rng.choice(["json", "yaml"])
    if kind == 1:
        return '{"a":' * n + "1" + "}" * n, rng.choice(["json", "yaml"])
    if kind == 2:
        return "- " * min(n, 20_000) + "x\n", "yaml"
    if kind == 3:
        return _alias_bomb(rng), "yaml"
    if kind == 4:
        return rng.choice(["a: &a [*a]\n", "a: &a {b: *a}\n", "&a [*a, *a]\n",
                           "component_type: &t [*t]\n", "<<: &a {<<: *a}\n"]), "yaml"
    if kind == 5:
        number = rng.choice(["9" * rng.choice([4300, 4301, 100_000]), "1e99999", "-0", "1" + "0" * 5000 + ".5"])
        return FLOW_YAML.replace("name: flow", f"name: {number}"), "yaml"
    if kind == 6:
        number = "9" * rng.choice([4301, 50_000])
        return json.dumps({"component_type": "Flow", "id": "f", "name": "x"})[:-1] + f', "n": {number}}}', "json"
    if kind == 7:
        return FLOW_YAML.replace("name: flow", "name: " + "y" * rng.choice([10**5, 10**6, 10**7])), "yaml"
    if kind == 8:
        tag = rng.choice(["!!python/object/apply:os.system ['true']", "!!binary AAAA", "!custom x",
                          "!!set {a, b}", "!!omap [a: 1]", "!!timestamp 2001-12-14", "!!float nan"])
        return FLOW_YAML.replace("name: flow", f"name: {tag}"), "yaml"
    if kind == 9:
        return rng.choice(["", " ", "null", "5", '"s"', "[]", "{}", "---\n---\n", "\ufeff{}", "\x00"]), \
            rng.choice(["json", "yaml"])
    return mutate_text(rng, FLOW_YAML), "yaml"


def make_input(seed: int, corpus: Corpus) -> tuple[str, str]:
    """The ``seed``-th input: (text, format)."""
    rng = random.Random(seed)
    roll = rng.random()
    if roll < 0.25 or not corpus:
        return generated(rng)
    text, fmt, data = rng.choice(corpus)
    if roll < 0.45 or data is None:
        return mutate_text(rng, text), fmt
    out_fmt = fmt if rng.random() < 0.8 else ("yaml" if fmt == "json" else "json")
    return _text(mutate_data(rng, data), out_fmt, rng), out_fmt


# --------------------------------------------------------------------------- the property


def check(text: str, fmt: str) -> str:
    """Load ``text`` as users do, dump what loaded and load that again.

    Returns ``"component"`` or ``"error"`` (a LoomError); anything else raises.
    """
    import loom

    try:
        component = loom.loads(text, format=fmt)
    except loom.LoomError:
        return "error"
    for out in ("json", "yaml"):
        try:
            dumped = loom.dumps(component, out)
        except loom.LoomError:
            continue
        try:
            loom.loads(dumped, format=out)
        except loom.LoomError:
            pass
    return "component"


# --------------------------------------------------------------------------- the pool


def _worker(conn: Connection, memory_mb: int) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    warnings.simplefilter("ignore")
    corpus = load_corpus()
    while True:
        seed = conn.recv()
        if seed is None:
            return
        document = make_input(seed, corpus)  # a failure here is the bench's own bug: let it out
        try:
            outcome, detail = check(*document), ""
        except MemoryError:
            outcome, detail = "memory", "MemoryError"
        except BaseException as exc:  # noqa: B036 - every escape is a finding
            outcome, detail = "crash", "".join(traceback.format_exception(exc))[-4000:]
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        conn.send((outcome, detail, rss_kb))


class Child:
    def __init__(self, ctx: Any, memory_mb: int) -> None:
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child_conn, memory_mb), daemon=True)
        self.proc.start()
        child_conn.close()
        self.seed: int | None = None
        self.started = 0.0

    def send(self, seed: int) -> None:
        self.seed, self.started = seed, time.monotonic()
        self.conn.send(seed)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()


def run(inputs: int, workers: int, timeout: float, memory_mb: int, seed: int, out: Path,
        keep: int = 5, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    corpus = load_corpus()
    counts = {"component": 0, "error": 0, "crash": 0, "hang": 0, "memory": 0}
    peak_kb, saved, next_input, done = 0, 0, 0, 0
    children = [Child(ctx, memory_mb) for _ in range(workers)]

    def save(kind: str, number: int, detail: str) -> None:
        nonlocal saved
        if saved >= keep:
            return
        saved += 1
        out.mkdir(parents=True, exist_ok=True)
        text, fmt = make_input(seed * 1_000_003 + number, corpus)
        base = out / f"{kind}-{number}"
        base.with_suffix("." + fmt).write_text(text, encoding="utf-8", errors="surrogateescape")
        base.with_suffix(".txt").write_text(detail, encoding="utf-8", errors="replace")

    start = time.monotonic()
    for child in children:
        if next_input < inputs:
            child.send(seed * 1_000_003 + next_input)
            next_input += 1
    while done < inputs:
        for i, child in enumerate(children):
            if child.seed is None:
                continue
            number = child.seed - seed * 1_000_003
            if child.conn.poll(0.01):
                try:
                    outcome, detail, rss_kb = child.conn.recv()
                except EOFError:  # the child died (a signal, the memory cap at C level)
                    outcome, detail, rss_kb = "crash", f"child exit {child.proc.exitcode}", 0
                    child.kill()
                    children[i] = child = Child(ctx, memory_mb)
                peak_kb = max(peak_kb, rss_kb)
            elif time.monotonic() - child.started > timeout:
                outcome, detail = "hang", f"over {timeout} s"
                child.kill()
                children[i] = child = Child(ctx, memory_mb)
            else:
                continue
            counts[outcome] += 1
            if outcome in ("crash", "hang", "memory"):
                save(outcome, number, detail)
            done += 1
            child.seed = None
            if progress is not None:
                progress(done)
            if next_input < inputs:
                child.send(seed * 1_000_003 + next_input)
                next_input += 1
    for child in children:
        child.conn.send(None)
        child.proc.join(5)
        if child.proc.is_alive():
            child.kill()
    wall = time.monotonic() - start
    return {"inputs": inputs, **counts, "peak_rss_mb": peak_kb / 1024, "wall_s": wall,
            "rate_per_s": inputs / wall if wall else 0.0, "corpus_files": len(corpus)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/fuzz.py", description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per input")
    parser.add_argument("--memory-mb", type=int, default=1024, help="RLIMIT_AS of each child")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/fuzz-findings"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not CONFORMANCE.is_dir():
        print(f"warning: {CONFORMANCE} is absent: only generated documents", file=sys.stderr)

    def progress(done: int) -> None:
        if done % 1000 == 0:
            print(f"  {done}/{args.inputs}", file=sys.stderr, flush=True)

    result = run(args.inputs, args.workers, args.timeout, args.memory_mb, args.seed, args.out,
                 progress=progress)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import dump_json, fmt_s, print_table

    rows = [
        ["inputs", result["inputs"], f"{result['corpus_files']} corpus files, seed {args.seed}"],
        ["loaded (component)", result["component"], "dumped to JSON and YAML, loaded again"],
        ["refused (LoomError)", result["error"], ""],
        ["crashes", result["crash"], f"any other exception; first inputs in {args.out}"],
        ["hangs", result["hang"], f"over {args.timeout:g} s, child killed"],
        ["over memory cap", result["memory"], f"MemoryError under RLIMIT_AS {args.memory_mb} MiB"],
        ["peak RSS (child)", f"{result['peak_rss_mb']:.0f} MB", "highest ru_maxrss of any child"],
        ["wall", fmt_s(result["wall_s"]), f"{result['rate_per_s']:.0f} inputs/s, {args.workers} workers"],
    ]
    print_table("loom loader fuzz", ["", "value", "note"], rows)
    if args.json:
        dump_json(args.json, result)
    return 1 if result["crash"] or result["hang"] or result["memory"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
