"""``loom validate FILE... [--strict] [--registry FILE]...``

Loads every file as loom would run it and prints one line per file::

    OK path (Flow 'name', agentspec 25.4.1)
    INVALID path: message

Warnings (version mismatches, unwired branches...) are listed under the line.
Every result line goes to stdout, so a report redirected to a file keeps its
order; only errors that stop the command (an unreadable registry) go to
stderr. Exits 1 when any file is invalid.
"""

from __future__ import annotations

import argparse
from typing import Any

from loom.cli import (
    EXIT_INVALID,
    EXIT_OK,
    add_registry_option,
    collected_warnings,
    green,
    out,
    read_registries,
    red,
    report_error,
    yellow,
)
from loom.cli.setup import RuntimeOptions, add_policy_options
from loom.errors import LoomError
from loom.serialization.api import load_document
from loom.serialization.policy import DEFAULT_POLICY, ComponentPolicy, load_policy
from loom.serialization.reader import parse_text, read_file
from loom.spec.component import Component
from loom.spec.versions import CURRENT_VERSION, UNPUBLISHED_VERSIONS, VERSION_ALIASES


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check that configuration files load",
        description="Load each FILE (JSON or YAML) and report whether it is a valid "
        "Agent Spec configuration.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="configuration files")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse what is otherwise only a warning (a version lower than the features "
        "need, a misplaced agentspec_version)",
    )
    add_registry_option(parser)
    add_policy_options(parser)
    parser.set_defaults(handler=run_validate)


def _version_label(document: Any) -> str:
    raw = document.get("agentspec_version", document.get("air_version"))
    if raw is None:
        return f"agentspec {CURRENT_VERSION}, assumed"
    version = str(raw)
    if version in VERSION_ALIASES:
        return f"agentspec {version}, read as {VERSION_ALIASES[version]}"
    if version in UNPUBLISHED_VERSIONS:
        return f"agentspec {version}, never published"
    return f"agentspec {version}"


def validate_file(
    path: str, registry: dict[str, Any] | None, strict: bool,
    policy: ComponentPolicy = DEFAULT_POLICY,
) -> tuple[Component, str]:
    """Load one file; returns the component and a label of its declared version."""
    text, fmt = read_file(path)
    document = parse_text(text, fmt, path)
    component = load_document(
        document, registry=registry, strict=strict, source=path, policy=policy
    )
    return component, _version_label(document)


def run_validate(args: argparse.Namespace) -> int:
    lists = RuntimeOptions.from_args(args).load_policy
    try:
        policy = load_policy(lists["allowed_components"], lists["blocked_components"])
    except LoomError as exc:
        report_error(exc)
        return EXIT_INVALID
    try:
        registry = read_registries(args.registry, strict=args.strict, **lists)
    except LoomError as exc:
        report_error(exc, prefix="error: cannot read the registry: ")
        return EXIT_INVALID
    invalid = 0
    for path in args.files:
        with collected_warnings() as notes:
            try:
                component, version = validate_file(path, registry, args.strict, policy)
            except LoomError as exc:
                component, problem = None, exc.describe()
        if component is None:
            invalid += 1
            out(red("INVALID"), f" {path}: {problem}")
        else:
            label = f"{component.component_type} '{component.name}'"
            out(green("OK"), f" {path} ({label}, {version})")
        for note in notes:
            out(yellow("  warning: "), note)
    if len(args.files) > 1:
        out(f"{len(args.files) - invalid} valid, {invalid} invalid")
    return EXIT_INVALID if invalid else EXIT_OK
