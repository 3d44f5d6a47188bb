"""``loom convert FILE --to json|yaml [-o OUT] [--include-sensitive]``

Loads FILE and writes it again in the requested format, in the shape
pyagentspec writes (shared components referenced; at the file's declared version,
or the lowest that can express the configuration if that is newer, unless
``--agentspec-version`` says otherwise).
Secrets are written as ``{"$component_ref": "<id>.<field>"}`` references unless
``--include-sensitive`` is given. Output goes to stdout when no ``-o``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from loom.cli import (
    EXIT_INVALID,
    EXIT_OK,
    add_registry_option,
    collected_warnings,
    err,
    read_registries,
    report_error,
    yellow,
)
from loom.errors import LoadError
from loom.serialization import dumps, load
from loom.spec.component import Component
from loom.spec.versions import UNPUBLISHED_VERSIONS, WRITABLE_VERSIONS
from loom.spec.walk import sensitive_values


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="rewrite a configuration as JSON or YAML",
        description="Load FILE and write it as JSON or YAML.",
    )
    parser.add_argument("file", metavar="FILE", help="configuration file (JSON or YAML)")
    parser.add_argument("--to", required=True, choices=("json", "yaml"), help="output format")
    parser.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    parser.add_argument(
        "--include-sensitive",
        action="store_true",
        help="write secret fields (api keys, sensitive headers...) as their values instead "
        "of references; the output is then secret material",
    )
    parser.add_argument(
        "--agentspec-version",
        type=_writable_version,
        metavar="VERSION",
        help=f"the agentspec_version to write, one of {', '.join(WRITABLE_VERSIONS)} "
        "(default: the file's own, or a newer one if its features need it)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="refuse what is otherwise only a warning"
    )
    add_registry_option(parser)
    parser.set_defaults(handler=run_convert)


def _writable_version(text: str) -> str:
    if text in WRITABLE_VERSIONS:
        return text
    why = "was never published" if text in UNPUBLISHED_VERSIONS else "is not a version loom writes"
    raise argparse.ArgumentTypeError(
        f"{text} {why}: write one of {', '.join(WRITABLE_VERSIONS)}"
    )


def secret_fields(root: Component) -> list[str]:
    """``<id>.<field>`` of every sensitive field that holds a value."""
    return list(sensitive_values(root))


def run_convert(args: argparse.Namespace) -> int:
    registry = read_registries(args.registry, strict=args.strict)
    with collected_warnings() as notes:
        component = load(args.file, registry=registry, strict=args.strict)
    for note in notes:
        err(yellow("warning: "), note)
    try:
        text = dumps(
            component,
            args.to,
            agentspec_version=args.agentspec_version,
            include_sensitive=args.include_sensitive,
        )
    except RecursionError:
        report_error(LoadError(f"{component.ref} is nested too deeply to write"))
        return EXIT_INVALID
    if not text.endswith("\n"):
        text += "\n"
    secrets = secret_fields(component)
    if secrets and not args.include_sensitive:
        err(
            yellow("note: "),
            f"{len(secrets)} secret field(s) written as references ({', '.join(secrets)}); "
            "supply their values through a registry when loading, or pass "
            "--include-sensitive to write them",
        )
    if args.output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return EXIT_OK
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        report_error(LoadError(f"cannot write {args.output}: {exc.strerror or exc}"))
        return EXIT_INVALID
    return EXIT_OK
