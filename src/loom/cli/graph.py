"""``loom graph CONFIG [-o flow.svg|flow.png|flow.pdf|flow.dot|flow.mmd] [--data]``

Draws a flow: its nodes, control edges (labelled with their branch), data edges
with ``--data``, and the subflows of ParallelFlowNode, MapNode, FlowNode and
CatchExceptionNode as boxes inside their node. Other components (agents,
swarms...) are drawn as the tree of components they hold. SVG, PNG and PDF are
drawn by Graphviz (``dot``); ``.dot`` and ``.mmd`` (Mermaid) are text and need
nothing else. Without ``-o`` the Mermaid text goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from loom.cli import (
    EXIT_OK,
    add_registry_option,
    collected_warnings,
    err,
    out,
    read_registries,
    yellow,
)
from loom.observability.graph import build_graph, describe, to_mermaid, write_graph
from loom.serialization import load


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "graph",
        help="draw a flow (Graphviz SVG/PNG, or Mermaid)",
        description="Draw a flow's nodes and edges, its subflows as clusters. The format "
        "follows the output's extension: .svg, .png, .pdf (Graphviz), .dot, .mmd (Mermaid).",
    )
    parser.add_argument("config", metavar="CONFIG", help="the flow (.json, .yaml or .yml)")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="flow.svg, flow.png, flow.pdf, flow.dot or flow.mmd "
                        "(default: Mermaid text on stdout)")
    parser.add_argument("--data", action="store_true",
                        help="draw data edges too (dashed; dotted when wired by name)")
    add_registry_option(parser)
    parser.set_defaults(handler=graph_command)


def graph_command(args: argparse.Namespace) -> int:
    registry = read_registries(args.registry)
    with collected_warnings() as notes:
        component = load(args.config, registry=registry)
    for note in notes:
        err(yellow("warning: "), note)
    if not args.output:
        sys.stdout.write(to_mermaid(build_graph(component, data=args.data)))
        return EXIT_OK
    fmt = write_graph(component, args.output, data=args.data)
    parts = describe(build_graph(component, data=args.data))
    out(f"wrote {args.output} ({fmt}: {parts['nodes']} nodes, {parts['clusters']} subflow "
        f"boxes, {parts['edges']} edges)")
    return EXIT_OK
