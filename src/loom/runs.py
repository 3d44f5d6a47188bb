"""A run's state as data: what a store keeps and a resumed run starts from.

The state holds the flow document (secrets left out), the inputs, the journal
of recorded step results and answers, the pending requests and the outcome. It
is plain JSON with a format version; anything else is refused on load. It sits
below the runtime (which writes it) and the stores (which keep it).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from loom.errors import CheckpointError

STATE_FORMAT = "loom.run/1"
RunStatus = Literal["running", "waiting", "finished", "failed", "cancelled"]
_STATUSES = ("running", "waiting", "finished", "failed", "cancelled")
_SHAPES: dict[str, type | tuple[type, ...]] = {
    "run_id": str, "flow": dict, "digest": str, "inputs": dict, "entries": dict,
    "answers": dict, "pending": list, "messages": list, "outputs": dict,
    "metadata": dict, "created_at": (int, float), "updated_at": (int, float),
}


# The flow document is the bulk of a run state and never changes during a run:
# its JSON text is computed once per digest and spliced into every checkpoint.
_FLOW_TEXTS: dict[str, str] = {}
_FLOW_TEXTS_MAX = 256


def flow_digest(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class RunState:
    run_id: str
    status: RunStatus
    flow: dict[str, Any]
    digest: str
    inputs: dict[str, Any] = field(default_factory=dict)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    owner: str | None = None
    format: str = STATE_FORMAT
    # Recorded entries never change: each one's JSON text is kept, so a checkpoint
    # encodes only what was recorded since the last one.
    _entry_texts: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    # The checksum covers the entries (hashed once each, in order, as they are
    # encoded) and everything else but the flow, which its digest covers.
    _entries_sum: Any = field(default=None, repr=False, compare=False)
    _summed: Any = field(default=None, repr=False, compare=False)

    def to_json(self) -> str:
        try:
            flow = _FLOW_TEXTS.get(self.digest)
            if flow is None:
                flow = json.dumps(self.flow, ensure_ascii=False, allow_nan=False)
                if len(_FLOW_TEXTS) >= _FLOW_TEXTS_MAX:
                    _FLOW_TEXTS.clear()
                _FLOW_TEXTS[self.digest] = flow
            texts = self._entry_texts
            parts = []
            fresh = self._summed is not self.entries  # a new dict: sum it whole, in its order
            if fresh:
                self._entries_sum, self._summed = hashlib.sha256(), self.entries
            for key, entry in self.entries.items():
                text = texts.get(key)
                if text is None:
                    text = texts[key] = (
                        json.dumps(key, ensure_ascii=False) + ": "
                        + json.dumps(entry, ensure_ascii=False, allow_nan=False)
                    )
                    fresh = True
                if fresh:
                    self._entries_sum.update(text.encode())
                parts.append(text)
            data = {f.name: getattr(self, f.name) for f in _FIELDS if f.name not in _SPLICED}
            rest = json.dumps(data, ensure_ascii=False, allow_nan=False)
            total = self._entries_sum.copy()
            total.update(rest.encode())
            return (f'{{"flow": {flow}, "entries": {{{", ".join(parts)}}}, {rest[1:-1]}, '
                    f'"checksum": "{total.hexdigest()}"}}')
        except (TypeError, ValueError) as exc:
            raise CheckpointError(
                f"run {self.run_id} cannot be checkpointed: {exc}",
                hint="tools and inputs must produce JSON values (str, number, bool, "
                "list, dict, null) for a run to be saved",
            ) from None

    @classmethod
    def from_json(cls, text: str | bytes, where: str = "checkpoint") -> RunState:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{where} is corrupt: not JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise CheckpointError(
                f"{where} is not a loom run state (format {found!r}, expected "
                f"{STATE_FORMAT!r})",
                hint="it was written by another program or another version of loom",
            )
        known = {name for name in cls.__dataclass_fields__ if not name.startswith("_")}
        missing = {"run_id", "status", "flow", "digest"} - set(data)
        if missing or data.get("status") not in _STATUSES:
            raise CheckpointError(
                f"{where} is corrupt: missing {sorted(missing)} or bad status "
                f"{data.get('status')!r}"
            )
        wrong = [
            name for name, kind in _SHAPES.items()
            if name in data and not isinstance(data[name], kind)
        ]
        if wrong:
            raise CheckpointError(f"{where} is corrupt: bad type for {', '.join(wrong)}")
        state = cls(**{k: v for k, v in data.items() if k in known})
        checksum = data.get("checksum")  # absent from checkpoints written before it
        if flow_digest(state.flow) != state.digest:
            problem = "flow does not match its digest"
        elif checksum is not None and f'"checksum": "{checksum}"}}' not in _tail(state):
            problem = "inputs, journal or outcome do not match its checksum"
        else:
            return state
        raise CheckpointError(
            f"{where} is corrupt: its {problem}",
            hint="the checkpoint was modified; delete it and start the run again",
        )


def _tail(state: RunState) -> str:
    try:
        return state.to_json()[-80:]
    except CheckpointError:
        return ""


_FIELDS = [f for f in fields(RunState) if not f.name.startswith("_")]
_SPLICED = ("flow", "entries")


def json_text(payload: Any) -> str:
    """``payload`` as strict JSON: NaN and infinities (which JSON cannot hold) as null."""
    try:
        return json.dumps(payload, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(payload), ensure_ascii=False, default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
