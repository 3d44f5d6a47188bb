"""``loom runs list | show RUN_ID | delete RUN_ID... | cancel RUN_ID [--store URL] [--json]``

The runs kept in a checkpoint store: those that wait, those that were
checkpointed, and how they ended. ``delete`` removes checkpoints (a corrupt one
too); deleting a run that a live process is running does not stop it.
``cancel`` ends a run: one that no live process holds (a waiting one, say) is
marked cancelled in the store; one that a live process holds is asked to cancel
through the store, which a ``loom serve`` holding it does within a second; with
``--backend`` the run's workflow is cancelled in Temporal.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from loom.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, err, out, red, report_error, yellow
from loom.cli.setup import RuntimeOptions, add_backend_options, temporal_backend
from loom.cli.waiting import add_store_options, describe_call, store_from
from loom.errors import CheckpointError
from loom.runs import RunState
from loom.runtime.blocking import run_blocking
from loom.runtime.journal import PendingRequest
from loom.stores import CheckpointStore, store_opener
from loom.stores.base import RunSummary, cancel_once, describe_owner

_STYLES = {"finished": "green", "failed": "red", "waiting": "yellow", "running": "cyan",
           "cancelled": "red"}
CANCEL_WAIT = 5.0
"""Seconds to wait for a run that another process runs to end once asked to."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "runs", help="list, show, delete or cancel saved runs",
        description="The runs kept in a checkpoint store.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list the saved runs, oldest first")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    show = actions.add_parser("show", help="show one run: status, pending requests, outputs")
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--json", action="store_true", help="print the run as JSON")
    delete = actions.add_parser("delete", help="delete saved runs")
    delete.add_argument("run_ids", metavar="RUN_ID", nargs="+")
    delete.add_argument("--json", action="store_true",
                        help='print {"deleted": [...], "missing": [...]}')
    cancel = actions.add_parser(
        "cancel", help="cancel a run in the store (one a loom serve runs: through it), "
        "or in Temporal")
    cancel.add_argument("run_id", metavar="RUN_ID")
    cancel.add_argument("--json", action="store_true",
                        help='print {"run_id": ..., "status": "cancelled"}')
    add_backend_options(cancel)
    for sub in (listing, show, delete, cancel):
        add_store_options(sub)
        sub.set_defaults(handler=runs_command)


def runs_command(args: argparse.Namespace) -> int:
    if args.action == "cancel" and args.backend is not None:
        return _cancel_elsewhere(args)
    try:
        store_opener(args.store)
    except CheckpointError as exc:  # --store or $LOOM_STORE is no store: a usage error
        report_error(exc)
        return EXIT_USAGE
    store = store_from(args, lazy=False)  # one that cannot be opened: exit 1, as documented
    try:
        if args.action == "list":
            return _list(store, args.json)
        if args.action == "show":
            return _show(store.load(args.run_id), args.json)
        if args.action == "cancel":
            return _cancelled(args.run_id, _cancel(store, args.run_id), args.json)
        return _delete(store, args.run_ids, args.json)
    finally:
        store.close()


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _list(store: CheckpointStore, as_json: bool) -> int:
    runs = store.list()
    if as_json:
        print(json.dumps([_summary_dict(run) for run in runs]))
        return EXIT_OK
    if not runs:
        out("no saved runs")
        return EXIT_OK
    table = Table(box=None, pad_edge=False, highlight=False)
    for column in ("RUN ID", "STATUS", "FLOW", "PENDING", "UPDATED", "HELD BY"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run.run_id, Text(run.status, style=_STYLES.get(run.status, "")), run.flow_name,
            str(run.pending), _when(run.updated_at),
            describe_owner(run.owner) if run.owner else "",
        )
    Console(soft_wrap=True, highlight=False).print(table)
    return EXIT_OK


def _summary_dict(run: RunSummary) -> dict[str, Any]:
    return {
        "run_id": run.run_id, "status": run.status, "flow": run.flow_name,
        "pending": run.pending, "created_at": run.created_at, "updated_at": run.updated_at,
        "owner": run.owner,
    }


def _show(state: RunState, as_json: bool) -> int:
    if as_json:
        data = {
            "run_id": state.run_id, "status": state.status,
            "flow": str(state.flow.get("name", "")), "digest": state.digest,
            "created_at": state.created_at, "updated_at": state.updated_at,
            "inputs": state.inputs, "outputs": state.outputs, "error": state.error,
            "pending": [PendingRequest.from_state(item).to_dict() for item in state.pending],
            "messages": state.messages, "steps_recorded": len(state.entries),
            "metadata": state.metadata,
        }
        print(json.dumps(data, ensure_ascii=False, default=str))
        return EXIT_OK
    out(Text(state.status, style=_STYLES.get(state.status, "bold")),
        f" run {state.run_id} of flow '{state.flow.get('name', '')}'")
    out(f"created {_when(state.created_at)}, updated {_when(state.updated_at)}, "
        f"{len(state.entries)} step(s) recorded")
    if state.inputs:
        out("inputs: ", json.dumps(state.inputs, ensure_ascii=False, default=str))
    for item in state.pending:
        detail = item.get("prompt") or ""
        if item.get("kind") == "client_tool":
            detail = describe_call(item.get("tool_call"))
        out(yellow("pending "), f"{item['id']} {item['kind']} at {item['node']}",
            f": {detail}" if detail else "")
    if state.error:
        out(red("failed"), f" at {state.error.get('node')}: {state.error.get('message')}")
    for name, value in state.outputs.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out(f"{name}: ", text)
    for message in state.messages:
        out(f"[{message.get('role', 'message')}] ", str(message.get("content", "")))
    return EXIT_OK


def _delete(store: CheckpointStore, run_ids: list[str], as_json: bool) -> int:
    deleted: list[str] = []
    missing: list[str] = []
    for run_id in run_ids:
        if store.delete(run_id):
            deleted.append(run_id)
            if not as_json:
                out(f"deleted {run_id}")
        else:
            missing.append(run_id)
            if not as_json:
                err(red("error: "), f"no run with id '{run_id}' in the store")
    if as_json:
        print(json.dumps({"deleted": deleted, "missing": missing}))
    return EXIT_INVALID if missing else EXIT_OK


def _cancel(store: CheckpointStore, run_id: str) -> str:
    """Cancel a stored run: its status before, or how it ended when it did not end
    cancelled. A live process that holds it is asked to, and waited for."""
    before = store.load(run_id).status
    deadline = time.monotonic() + CANCEL_WAIT
    while (state := cancel_once(store, run_id)) is None:
        if time.monotonic() >= deadline:
            raise CheckpointError(
                f"run '{run_id}' was asked to cancel but the process running it has not "
                f"ended it in {CANCEL_WAIT:g} s",
                hint="a loom serve does it within a second: see the run again with "
                f"`loom runs show {run_id}`; other processes (loom run) do not look for "
                "cancel requests: stop that one")
        time.sleep(0.1)
    return before if state.status == "cancelled" else state.status


def _cancel_elsewhere(args: argparse.Namespace) -> int:
    backend = temporal_backend(RuntimeOptions(backend=args.backend, task_queue=args.task_queue,
                             claim_check=args.claim_check))
    status: str = run_blocking(backend.acancel(args.run_id))
    if status == "running":
        raise CheckpointError(f"run '{args.run_id}' was asked to cancel but has not ended yet",
                              hint="see it again later with the same command")
    return _cancelled(args.run_id, "waiting" if status == "cancelled" else status, args.json)


def _cancelled(run_id: str, before: str, as_json: bool) -> int:
    """Report a cancel: exit 0 once the run is cancelled (now or before); a run that
    finished or failed cannot be (exit 1, as for a missing run)."""
    if before in ("finished", "failed"):
        raise CheckpointError(f"run '{run_id}' already {before}; there is nothing to cancel",
                              hint=f"see it with `loom runs show {run_id}`")
    if as_json:
        print(json.dumps({"run_id": run_id, "status": "cancelled"}))
    else:
        out(Text("cancelled", style="red"),
            f" run {run_id}" + (" (it was already)" if before == "cancelled" else ""))
    return EXIT_OK
