"""Step keys and journal entries: what a checkpoint's records are called and hold.

A resumed run finds its recorded results by key, so the spelling below is part
of the ``loom.run/1`` format: change it and older checkpoints replay nothing
(tests/runtime/test_checkpoint_fixtures.py resumes committed ones)::

    run         <flow name>                                 main
    node step   <flow key> ">" <node name> "#" <pass>       main>tick#2
    child flow  <step> "/" <name>                           main>fan#1/pick_flow
    map item    <flow name> "[" <index> "]" (a child name)  main>fan#1/tags_flow>each#1/tag_flow[0]
    effect      <step> "/" <effect>                         shopper>shopper#1/llm2.call1
    wait        <step> ("/" <part>)*                        shopper>shopper#1/llm2.call0/client

Agents' effects: LLM turn ``llm<n>``, call ``<turn>.call<i>``, summary
``summary<t>.<hash>``; a ManagerWorkers' manager runs under ``manager``, a
swarm's n-th active agent under ``a<n>``, a worker under the manager's call.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypedDict

CONFIRM = "confirm"
CLIENT = "client"
INPUT = "input"
START = "start"  # an agent asking the user before its first turn
MANAGER = "manager"


class StepEntry(TypedDict):
    """A node's recorded result: what it output, the branch it took, what it said."""

    outputs: dict[str, Any]
    branch: str
    messages: list[dict[str, Any]]


class EffectEntry(TypedDict):
    """One outside call of a multi-call step (an agent's LLM turn, a tool call)."""

    value: Any


Entry = StepEntry | EffectEntry


def step_entry(outputs: dict[str, Any], branch: str, messages: list[dict[str, Any]]
               ) -> StepEntry:
    return {"outputs": outputs, "branch": branch, "messages": messages}


def effect_entry(value: Any) -> EffectEntry:
    return {"value": value}


def root_key(flow: str) -> str:
    return flow


def node_key(flow_key: str, node: str, n: int) -> str:
    """The ``n``-th execution (from 1) of ``node`` in the flow run keyed ``flow_key``."""
    return f"{flow_key}>{node}#{n}"


def child_key(step: str, *names: str) -> str:
    """A flow run by ``step`` (a subflow, a branch, a map item), or an effect of it."""
    return step + "/" + "/".join(names)


def effect_key(step: str, effect: str) -> str:
    return f"{step}/{effect}"


def item_name(flow: str, index: int) -> str:
    """The child name of a map iteration."""
    return f"{flow}[{index}]"


def wait_key(step: str, *parts: str) -> str:
    """What ``step`` waits for: itself, or one of its effects (``llm2.call0``, ``client``)."""
    return child_key(step, *parts) if parts else step


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


def activation_key(n: int) -> str:
    return f"a{n}"


def request_id(key: str) -> str:
    """A short, stable id for the request made at wait ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]
