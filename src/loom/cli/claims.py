"""``loom claims prune URL --older-than AGE``: delete old values of a claim-check store.

The claim-check store (``--claim-check`` of ``loom worker`` and ``loom run
--backend``) keeps every value over 256 KiB that a run on Temporal produced;
this command is what deletes them. A value read or written within AGE stays.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from loom.cli import EXIT_OK, out

_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "claims", help="prune the claim-check store of runs on Temporal (loom[temporal])",
        description="prune: delete the values of a claim-check store (where runs on Temporal "
        "keep values over 256 KiB) not read or written for AGE. Choose an AGE longer than "
        "your longest run and than the namespace's history retention: a run, and a replay "
        "of its history, need its values.")
    parser.add_argument("action", choices=("prune",), help="what to do (prune)")
    parser.add_argument("url", metavar="URL", help="file:///shared/dir or postgresql://...")
    parser.add_argument("--older-than", metavar="AGE", required=True, type=age,
                        help="e.g. 30d, 12h, 90m, 3600s")
    parser.add_argument("--json", action="store_true", help='print {"deleted": N}')
    parser.set_defaults(handler=claims_command)


def age(text: str) -> float:
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age such as 30d, 12h or 90m")
    return float(match[1]) * _UNITS[match[2]]


def claims_command(args: argparse.Namespace) -> int:
    from loom.temporal import open_claim_check  # loom[temporal]: temporalio is optional

    deleted = open_claim_check(args.url).prune(args.older_than)
    out(json.dumps({"deleted": deleted}) if args.json else f"deleted {deleted} value(s)")
    return EXIT_OK
