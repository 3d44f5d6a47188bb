"""Reading text into plain data: JSON or YAML (safe loader only), with positions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from loom.errors import LoadError

# libyaml's safe loader when PyYAML was built with it (about 10x faster), else the
# pure-Python one. Both construct plain data only: tags such as !!python/object fail.
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_ALIAS_VALUES = 100_000  # real configs' aliases add some thousands; a 3 KB bomb, billions
LEGACY_HINT = (
    "it looks like the legacy illustrative format of the Agent Spec docs (JSON5, 'type' or "
    "'$ref' keys, old class names), which is not Agent Spec JSON/YAML as written by current "
    "tools; export the component again with pyagentspec or loom"
)


def detect_format(source: str | None, text: str) -> str:
    """'json' or 'yaml', from the file suffix or, failing that, the first character."""
    if source:
        suffix = Path(source).suffix.lower()
        if suffix in (".yaml", ".yml"):
            return "yaml"
        if suffix in (".json", ".json5"):
            return "json"
    return "json" if text.lstrip()[:1] in ("{", "[") else "yaml"


def parse_text(text: str, fmt: str, source: str | None = None) -> Any:
    where = source or "<text>"
    if source and source.lower().endswith(".json5"):
        raise LoadError(f"{where} is a JSON5 file", hint=LEGACY_HINT)
    try:
        if not text.isascii():
            text.encode()  # a raw lone surrogate (a str from Python, not a file) fails
        data = _JSON.decode(text) if fmt == "json" else _load_yaml(text, where)
        if fmt == "json" and re.search(r"\\u[dD][89a-fA-F]", text):
            json.dumps(data, ensure_ascii=False).encode()  # a lone surrogate fails
    except json.JSONDecodeError as exc:
        raise LoadError(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            hint="fix the syntax at that position",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise LoadError(
            f"{where} is not valid YAML: {problem}{position}",
            hint="fix the syntax at that position (Python and unknown tags are not allowed)",
        ) from None
    except _Refused as exc:
        key, spots = exc.args[0], [m.start() for m in re.finditer(re.escape(f'"{exc}"'), text)]
        if key is None:
            raise LoadError(f"{where}: NaN and Infinity are not JSON") from None
        line = f" (line {text.count(chr(10), 0, spots[1]) + 1})" if len(spots) > 1 else ""
        raise LoadError(f"{where}: duplicate key {key!r}{line}") from None
    except yaml.YAMLError as exc:
        raise LoadError(f"{where} is not valid YAML: {exc}") from None
    except UnicodeEncodeError:
        raise LoadError(f"{where} holds a lone surrogate (\\uD800-\\uDFFF)") from None
    except (RecursionError, ValueError) as exc:  # Python's own limits
        why = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise LoadError(f"{where} cannot be read: {why.split(';')[0]}") from None
    return data


def _load_yaml(text: str, where: str) -> Any:
    loader = SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_nodes(node, where)
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node, where: str) -> None:
    """Refuse an alias inside itself or adding over MAX_ALIAS_VALUES, before building,
    and what _check_node refuses."""
    sizes: dict[int, int] = {}  # by node (a shared one counted once); 0: being counted
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        subs = [] if isinstance(node, yaml.ScalarNode) else node.value
        if isinstance(node, yaml.MappingNode):
            subs = [sub for pair in subs for sub in pair]
        if done:
            sizes[id(node)] = 1 + sum(sizes[id(sub)] for sub in subs)
        elif sizes.get(id(node)) == 0:
            line = node.start_mark.line + 1
            raise LoadError(f"{where}: a YAML alias contains itself (the anchor at line {line}"
                            f", column {node.start_mark.column + 1})")
        elif id(node) not in sizes:
            sizes[id(node)] = 0
            stack += [(node, True), *((sub, False) for sub in subs)]
            _check_node(node, where)
    if (added := sizes[id(root)] - len(sizes)) > MAX_ALIAS_VALUES:
        raise LoadError(f"{where}: its YAML aliases expand to {added:,} more values, over the "
                        f"limit of {MAX_ALIAS_VALUES:,} (an alias bomb?)")


class _Refused(ValueError):
    pass  # in JSON, a duplicate key (its name) or a NaN/Infinity (None)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) < len(pairs):
        raise _Refused(next(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i])))
    return data


def _no_constant(name: str) -> Any:
    raise _Refused(None)


_JSON = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_no_constant)


def _check_node(node: yaml.Node, where: str) -> None:
    """Refuse a duplicate key or a .nan/.inf, which the safe loader would take."""
    bad: yaml.Node | None = None
    if isinstance(node, yaml.MappingNode):
        keys = [key for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
        names = [key.value for key in keys]
        if len(set(names)) < len(names):
            bad = next(key for i, key in enumerate(keys) if key.value in names[:i])
            problem = f"duplicate key {bad.value!r}"
    elif node.tag.endswith(":float") and node.value.lower().lstrip("+-") in (".nan", ".inf"):
        bad, problem = node, "NaN and Infinity are not allowed"
    if bad:
        mark = bad.start_mark
        raise LoadError(f"{where}: {problem} (line {mark.line + 1}, column {mark.column + 1})")


def read_file(path: str | Path) -> tuple[str, str]:
    """The text of a file and its format."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LoadError(f"file not found: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"cannot read {file}: {exc}") from None
    return text, detect_format(str(file), text)
