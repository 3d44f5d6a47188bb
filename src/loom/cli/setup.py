"""How ``loom run``, ``loom chat`` and ``loom resume`` set a run up: the tools
files, the registries, the inputs and the Runtime, from the command's options
(or from those a saved run was started with)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from loom.cli import err, read_registries, yellow
from loom.errors import LoomError
from loom.runs import RunState, flow_digest
from loom.runtime import Runtime
from loom.runtime.host.secrets import masked_fields
from loom.runtime.values import refusal
from loom.serialization import load, to_dict
from loom.serialization.policy import PolicyArgs
from loom.spec.component import Component
from loom.spec.flows.flow import Flow
from loom.spec.property import Property
from loom.spec.tools import ServerTool
from loom.spec.walk import sensitive_values, walk
from loom.stores import CheckpointStore

CLAIM_CHECK_ENV = "LOOM_CLAIM_CHECK"  # --claim-check's default (loom.temporal.claim_check.ENV)

Checkpoint = Literal["waits", "nodes"]


class CommandError(LoomError):
    """The command line itself is wrong (bad -i value, unreadable tools file)."""


@dataclass(frozen=True)
class RuntimeOptions:
    """The options a command builds its Runtime from."""

    tools: Sequence[str] = ()  # tools files
    registry: Sequence[str] = ()  # registry files
    llm_url: str | None = None
    llm_model: str | None = None
    max_concurrency: int = 1024
    branch_timeout: float | None = None
    inline_tools: bool = False
    checkpoint: Checkpoint = "waits"
    max_iterations: int | None = None  # None: the Runtime's default
    allowed_components: Sequence[str] = ()  # --allow-components (never saved for resume)
    blocked_components: Sequence[str] = ()
    backend: str | None = None  # temporal://HOST:PORT/NS: runs live in Temporal
    task_queue: str = "loom"
    tool_timeout: float = 300.0  # seconds per attempt of a ServerTool call on a backend
    tool_attempts: int = 5  # attempts in all (a lost worker, a timed-out attempt)
    claim_check: str | None = None  # with a backend: where values over 256 KiB go

    @property
    def load_policy(self) -> PolicyArgs:
        """The ``allowed_components`` / ``blocked_components`` arguments of these options."""
        return {"allowed_components": list(self.allowed_components) or None,
                "blocked_components": list(self.blocked_components) or None}

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RuntimeOptions:
        """The options of a parsed command line (those it lacks keep their defaults)."""
        given = {name: getattr(args, name) for name in cls.__dataclass_fields__
                 if getattr(args, name, None) is not None}
        return cls(**given)

    @classmethod
    def saved(cls, saved: Mapping[str, Any]) -> RuntimeOptions:
        """The options a run was started with, as :func:`~loom.cli.waiting.cli_metadata`
        kept them."""
        return cls(
            tools=list(saved.get("tools") or []),
            registry=list(saved.get("registry") or []),
            llm_url=saved.get("llm_url"),
            llm_model=saved.get("llm_model"),
            max_concurrency=int(saved.get("max_concurrency") or 1024),
            branch_timeout=saved.get("branch_timeout"),
            inline_tools=bool(saved.get("inline_tools", False)),
            checkpoint="nodes" if saved.get("checkpoint") == "nodes" else "waits",
        )


@dataclass(frozen=True)
class Prepared:
    """A flow ready to run: its Runtime (tools bound and checked) and its inputs."""

    flow: Flow
    runtime: Runtime
    inputs: dict[str, Any]


def prepare(
    options: RuntimeOptions,
    config: str | Path,
    open_store: Callable[[], CheckpointStore],
    *,
    inputs: Sequence[str] = (),
    inputs_json: str | None = None,
    llm_url: str | None = None,
    served: Mapping[str, Any] | None = None,
    require_inputs: bool = False,
) -> Prepared:
    """Load ``config`` and build a Runtime that binds only the tools it uses and
    can run it (``llm_url``, e.g. the test LLM server's, and ``served``, the local
    model's overrides, win over the options';
    ``require_inputs``: every input without a default must be given).
    Raises LoomError for anything the user must fix."""
    registry = read_registries(options.registry, **options.load_policy)
    tools = load_tools(options.tools)
    store = open_store()
    component = load(Path(config), registry=registry, **options.load_policy)
    used = server_tools(component)
    runtime = build_runtime(options, store, registry=registry, llm_url=llm_url, served=served,
                            tools={name: fn for name, fn in tools.items() if name in used})
    flow = runtime.load(component)
    parsed = parse_inputs(flow, inputs, inputs_json)
    if runtime.backend is None:  # else the workers bind the tools
        runtime.compile(flow)
    if require_inputs:
        check_required(flow, parsed)
    return Prepared(flow, runtime, parsed)


def build_runtime(
    options: RuntimeOptions,
    store: CheckpointStore,
    *,
    tools: Mapping[str, Callable[..., Any]] | None = None,
    registry: Mapping[str, Any] | None = None,
    llm_url: str | None = None,
    served: Mapping[str, Any] | None = None,
) -> Runtime:
    """A Runtime for the options; ``tools``/``registry`` given are used instead of
    loading the options' files."""
    if tools is None:
        tools = load_tools(options.tools)
    if registry is None:
        registry = read_registries(options.registry, **options.load_policy)
    llm: dict[str, Any] = {"url": llm_url or options.llm_url, "model": options.llm_model}
    llm.update(served or {})
    extra: dict[str, Any] = {}
    if options.max_iterations is not None:
        extra["max_iterations"] = options.max_iterations
    return Runtime(
        backend=temporal_backend(options),
        tools=tools,
        llm={k: v for k, v in llm.items() if v},
        max_concurrency=options.max_concurrency,
        branch_timeout=options.branch_timeout,
        registry=registry,
        inline_tools=options.inline_tools,
        store=store,
        checkpoint=options.checkpoint,
        **options.load_policy,
        **extra,
    )


def component_names(text: str) -> list[str]:
    """``NAME[,NAME...]`` of --allow-components / --block-components."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one component type, e.g. StdioTransport")
    return names


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """--allow-components / --block-components: the component types a file may hold."""
    parser.add_argument(
        "--allow-components", dest="allowed_components", metavar="NAME[,NAME...]",
        type=component_names, action="extend",
        help="component types to load although blocked (StdioTransport is blocked by "
        "default: it starts a local process); subclasses match too",
    )
    parser.add_argument(
        "--block-components", dest="blocked_components", metavar="NAME[,NAME...]",
        type=component_names, action="extend",
        help="component types to refuse (subclasses too; the closest match of allow and "
        "block wins, block on a tie)",
    )
def take_secrets(runtime: Runtime, state: RunState, source: str,
                 load_flow: Callable[[], Flow]) -> None:
    """Add to the runtime's registry the secrets the checkpoint of ``state`` left out,
    read again from the config ``source`` the run started with (as `loom run` read
    them), if it still holds that flow; else say so (the resume then names them)."""
    missing = {item.ref for item in masked_fields(state.flow)} - set(runtime.registry)
    if not missing:
        return
    try:
        flow: Flow | None = load_flow()
    except (LoomError, OSError):
        flow = None
    if flow is None or flow_digest(to_dict(flow)) != state.digest:
        err(yellow("warning: "), f"{source} no longer holds the flow run '{state.run_id}' "
            "started with: its secrets are not used")
        return
    found = {ref: value for ref, value in sensitive_values(flow).items() if ref in missing}
    runtime.registry = {**found, **runtime.registry}


def server_tools(component: Component) -> set[str]:
    """The names of the ServerTools ``component`` uses, at any depth."""
    return {c.name for c in walk(component) if isinstance(c, ServerTool)}


def load_tools(paths: Sequence[str | Path]) -> dict[str, Callable[..., Any]]:
    """The public top-level functions of each Python file, by name (later files win)."""
    tools: dict[str, Callable[..., Any]] = {}
    for index, path in enumerate(paths):
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"tools file not found: {file}")
        spec = importlib.util.spec_from_file_location(f"loom_user_tools_{index}", file)
        if spec is None or spec.loader is None:
            raise CommandError(f"cannot import {file} as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:  # an exit there is no answer of loom's
            raise CommandError(
                f"importing tools file {file} failed: {type(exc).__name__}: {exc}",
                hint="fix the error in that file",
            ) from None
        for name, value in vars(module).items():
            if callable(value) and not name.startswith("_") and not isinstance(value, type):
                if getattr(value, "__module__", None) == spec.name:
                    tools[name] = value
    return tools


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a bad one exits 2 with usage)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text}")
    return value


def parse_inputs(flow: Flow, pairs: Sequence[str], raw_json: str | None) -> dict[str, Any]:
    """The flow's inputs from ``--inputs-json`` and then each ``-i NAME=VALUE``."""
    declared = {prop.title: prop for prop in flow.inputs or []}
    inputs: dict[str, Any] = {}
    if raw_json:
        parsed = json_value(raw_json, "--inputs-json is not valid JSON")
        if not isinstance(parsed, dict):
            raise CommandError("--inputs-json must be a JSON object")
        inputs.update(parsed)
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise CommandError(f"-i expects NAME=VALUE, got {pair!r}")
        prop = declared.get(name)
        if prop is None:
            raise CommandError(
                f"flow '{flow.name}' has no input '{name}'",
                hint=f"its inputs are {sorted(declared)}",
            )
        inputs[name] = parse_value(prop, text)
    return inputs


def json_value(text: str, refusal: str, hint: str | None = None) -> Any:
    """``text`` read as JSON, or a CommandError: ``refusal`` and why (Python's own
    limits, such as a 5,000-digit number, included)."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{refusal}: {json_error(exc)}", hint=hint) from None


def json_error(exc: ValueError) -> str:
    """Why a text is not JSON: the decoder's message, or Python's own limit it hit."""
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc).split(";")[0]


def check_required(flow: Flow, inputs: Mapping[str, Any]) -> None:
    """Refuse, before the run starts, inputs without a default that were not given."""
    missing = [prop.title for prop in flow.inputs or []
               if prop.title not in inputs and not prop.has_default]
    if missing:
        raise CommandError(
            f"flow '{flow.name}' needs input(s) {', '.join(map(repr, missing))}, "
            "which were not given",
            hint="give them with " + " ".join(f"-i {name}=..." for name in missing),
        )
    for prop in flow.inputs or []:
        why = prop.title in inputs and refusal(prop.title, prop.json_schema, inputs[prop.title])
        if why:
            raise CommandError(why)


def parse_value(prop: Property, text: str) -> Any:
    """Read a command-line value as the input's declared type."""
    kind = prop.json_schema.get("type")
    try:
        if kind == "string":
            return text
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind == "boolean":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError(text)
        return json.loads(text)
    except ValueError:
        if kind is None:
            return text
        raise CommandError(
            f"input '{prop.title}' is declared {kind}, but {text!r} is not one",
            hint=f"give a {kind} value, e.g. -i {prop.title}=...",
        ) from None


def temporal_backend(options: RuntimeOptions) -> Any:
    """The backend ``--backend`` names, or None for this process."""
    if options.backend is None:
        return None
    from loom.temporal import TemporalBackend  # loom[temporal]: temporalio is optional

    return TemporalBackend(options.backend, options.task_queue,
                           tool_timeout=options.tool_timeout, tool_attempts=options.tool_attempts,
                           claim_check=options.claim_check or os.environ.get(CLAIM_CHECK_ENV))


def add_backend_options(parser: argparse.ArgumentParser, start: bool = False) -> None:
    """``--backend`` and ``--task-queue``; with ``start``, what a run starts with too."""
    parser.add_argument("--backend", metavar="temporal://HOST:PORT/NAMESPACE",
                        help="run on a Temporal server (its `loom worker`s bind the tools) "
                        "instead of in this process; the run id is the workflow id")
    parser.add_argument("--task-queue", metavar="Q", default="loom",
                        help="the Temporal task queue of the workers (default: loom)")
    if start:
        parser.add_argument("--tool-timeout", metavar="SECONDS", type=positive_seconds,
                            help="with --backend: seconds a ServerTool call's "
                            "attempt may take before Temporal gives it to another worker "
                            "(a lost worker is noticed after it; default 300)")
        parser.add_argument("--tool-attempts", metavar="N", type=positive_int,
                            help="with --backend: attempts a ServerTool call gets in all when "
                            "its worker is lost or an attempt times out (default 5; a tool's "
                            "own exception is never retried)")
    add_claim_check_option(parser)


def add_claim_check_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--claim-check", metavar="URL",
                        help="where values over 256 KiB go instead of Temporal's history "
                        "(file:///shared/dir or postgresql://...; the same for the client and "
                        f"every worker; default: ${CLAIM_CHECK_ENV})")


def refuse_backend_only(args: argparse.Namespace) -> None:
    """``--tool-timeout`` and ``--tool-attempts`` are Temporal's: refuse them locally."""
    if getattr(args, "backend", None) is None:
        for option in ("tool_timeout", "tool_attempts"):
            if getattr(args, option, None) is not None:
                flag = "--" + option.replace("_", "-")
                raise CommandError(f"{flag} works only with --backend (a local run calls each "
                                   "tool once, in this process)", hint=f"drop {flag}")

