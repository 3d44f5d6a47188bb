"""The ``loom`` command.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` (a
function ``(args) -> int``) with ``parser.set_defaults(handler=...)``. The
modules named in :data:`SUBCOMMANDS` are imported in order; one that does not
exist yet is skipped, so adding a command is adding its module.

Exit codes: 0 ok, 1 invalid input (any :class:`~loom.errors.LoomError`),
2 usage error (argparse) or an optional dependency not installed. A LoomError is printed as one message, never a
traceback. Output goes through rich: colours on a terminal, plain text
otherwise (and never wrapped, so messages stay one line per problem).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.text import Text

from loom import __version__
from loom.errors import LoomError, MissingDependency
from loom.serialization import load_registry

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

# Modules of this package that define a subcommand, in the order of `loom --help`.
SUBCOMMANDS: tuple[str, ...] = (
    "validate", "convert", "run", "resume", "runs", "chat", "graph", "timeline", "serve",
    "worker", "claims",
)


def _console(stderr: bool) -> Console:
    # Built per call: rich then writes to the current sys.stdout/sys.stderr
    # (which tests replace) and decides colours from whether it is a terminal.
    return Console(stderr=stderr, soft_wrap=True, highlight=False, emoji=False, markup=False)


def out(*parts: str | Text) -> None:
    """Print a line to stdout (styled parts are rich ``Text``)."""
    _console(stderr=False).print(Text.assemble(*parts))


def err(*parts: str | Text) -> None:
    """Print a line to stderr."""
    _console(stderr=True).print(Text.assemble(*parts))


def red(text: str) -> Text:
    return Text(text, style="bold red")


def green(text: str) -> Text:
    return Text(text, style="bold green")


def yellow(text: str) -> Text:
    return Text(text, style="yellow")


def report_error(error: LoomError | str, prefix: str = "error: ") -> None:
    """One clear message on stderr, in red on a terminal."""
    message = error.describe() if isinstance(error, LoomError) else error
    err(red(prefix), message)


@contextmanager
def collected_warnings() -> Iterator[list[str]]:
    """Collect the messages of the warnings raised inside the block (each once)."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    for item in caught:
        text = str(item.message)
        if text not in messages:
            messages.append(text)


def show_warnings(messages: Sequence[str]) -> None:
    """Each collected warning as one yellow line on stderr."""
    for message in messages:
        err(yellow("warning: "), message)


def read_registries(
    paths: Sequence[str] | None, strict: bool = False, **policy: Any
) -> dict[str, Any] | None:
    """Load ``--registry`` files in order into one registry (later files see earlier ones).

    Raises LoomError when a file cannot be read as a disaggregated document.
    """
    if not paths:
        return None
    registry: dict[str, Any] = {}
    for path in paths:
        registry = load_registry(path, registry=registry, strict=strict, **policy)
    return registry


def add_registry_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry",
        action="append",
        metavar="FILE",
        default=[],
        help="a disaggregated components file ($referenced_components only) whose entries "
        "resolve references of the loaded files; repeatable",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loom", description="Load, check and run Open Agent Spec configurations."
    )
    parser.add_argument("--version", action="version", version=f"loom {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module_name = f"{__name__}.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # not written yet
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``loom`` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_usage(sys.stderr)
        report_error("no command given; see `loom --help`")
        return EXIT_USAGE
    try:
        return int(handler(args))
    except MissingDependency as exc:
        report_error(exc)
        return EXIT_USAGE
    except LoomError as exc:
        report_error(exc)
        return EXIT_INVALID
    except KeyboardInterrupt:
        report_error("interrupted")
        return 130


def entry() -> None:
    """The ``loom`` console script: run :func:`main`, exit with its code."""
    code = main()
    if "temporalio" in sys.modules:
        # temporalio's core threads can abort an exiting interpreter (PyGILState_Release,
        # sdk-python #300): a client that has said everything leaves at once.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


__all__ = [
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_USAGE",
    "SUBCOMMANDS",
    "add_registry_option",
    "build_parser",
    "collected_warnings",
    "err",
    "main",
    "out",
    "read_registries",
    "report_error",
    "show_warnings",
]
