"""Step keys and journal entries: part of the ``loom.run/1`` format, since a resumed
run finds its records by key (tests/runtime/test_checkpoint_fixtures.py)::

    run         <flow name>                           main
    node step   <flow key> ">" <node> "#" <pass>      main>tick#2
    <node>      its name; the k-th one sharing it: <name>@<k>      x@2
    child flow  <step> "/" <name>                     main>fan#1/pick_flow
    map item    <flow name> "[" <index> "]"           ...>each#1/tag_flow[0]
    effect      <step> "/" <effect>                   shopper>shopper#1/llm2.call1
    wait        <step> ("/" <part>)*                  shopper>shopper#1/llm2.call0/client

Agents' effects: ``llm<n>``, ``<turn>.call<i>``, ``summary<t>.<hash>``, ``toolbox<i>``; a team's
manager runs under ``manager``, a swarm's n-th active agent under ``a<n>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, TypedDict

CONFIRM, CLIENT, INPUT = "confirm", "client", "input"
START = "start"  # an agent asking the user before its first turn
MANAGER = "manager"


class StepEntry(TypedDict):
    outputs: dict[str, Any]
    branch: str
    messages: list[dict[str, Any]]


class EffectEntry(TypedDict):
    value: Any


Entry = StepEntry | EffectEntry


def step_entry(outputs: dict[str, Any], branch: str, messages: list[dict[str, Any]]
               ) -> StepEntry:
    return {"outputs": outputs, "branch": branch, "messages": messages}


def effect_entry(value: Any) -> EffectEntry:
    return {"value": value}


def root_key(flow: str) -> str:
    return flow


def step_names(names: Sequence[str]) -> list[str]:
    """Unique names for keys and paths (see above)."""
    taken, last, out = set(names), dict[str, int](), []
    for name in names:
        label, k = name, last.get(name, 0) + 1
        while k > 1 and (label := f"{name}@{k}") in taken:
            k += 1
        last[name] = k
        taken.add(label)
        out.append(label)
    return out


def node_key(flow_key: str, node: str, n: int) -> str:
    return f"{flow_key}>{node}#{n}"


def child_key(step: str, *names: str) -> str:
    return step + "/" + "/".join(names)


def effect_key(step: str, effect: str) -> str:
    return f"{step}/{effect}"


def wait_key(step: str, *parts: str) -> str:
    return child_key(step, *parts) if parts else step


def item_name(flow: str, index: int) -> str:
    return f"{flow}[{index}]"


def llm_turn(turn: int) -> str:
    return f"llm{turn}"


def tool_call(turn: str, index: int) -> str:
    return f"{turn}.call{index}"


def call_id(turn: str, index: int) -> str:
    """The id of a tool call whose model gave none."""
    return f"call_{turn}_{index}"


def summary_prefix(transform: int) -> str:
    return f"summary{transform}"


def summary_key(prefix: str, digest: str) -> str:
    return f"{prefix}.{digest[:16]}"


def toolbox_key(index: int) -> str:
    """The listing of an agent's ``index``-th toolbox."""
    return f"toolbox{index}"


def activation_key(n: int) -> str:
    return f"a{n}"


def request_id(key: str) -> str:
    """A short, stable id for the request made at wait ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]
