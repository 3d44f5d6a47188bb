"""``--trace run.jsonl``: every event of a run as one JSON line.

Each line is one Agent Spec event::

    {"type": "NodeExecutionStart", "timestamp": 1717000000000000000, "run_id": "...",
     "span": {"id": "s2", "type": "NodeExecutionSpan", "name": "parallel_flow_node",
              "parent_id": "s1", "start_time": ...},
     "path": ["marketing_message_flow", "parallel_flow_node"], "step": "...",
     "node": {"component_type": "ParallelFlowNode", "id": "...", "name": "..."},
     "inputs": "** masked **"}

A span's end event also carries ``end_time`` and ``status`` in ``span``, so the
file alone rebuilds every span (:func:`loom.observability.read_trace`). Sensitive
fields are masked unless ``include_content=True``; secrets never appear either
way (see :mod:`loom.observability.masking`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from loom.observability.builder import SpanBuilder
from loom.observability.masking import secrets_of
from loom.observability.spans import OK, Span, SpanEvent, SpanProcessor
from loom.runtime.events import RuntimeEvent

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

FLUSH_EVERY = 256
"""Lines buffered before a write reaches the file (span ends flush too)."""


class TraceFileWriter(SpanProcessor):
    """A span processor that writes one JSON line per event to an open text stream."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._unflushed = 0
        self._closing: set[str] = set()
        self._tails: dict[str, str] = {}

    def on_event(self, event: SpanEvent, span: Span) -> None:
        ends = _ends(event)
        if ends:
            self._closing.add(span.id)
        self._write(event.type, event.id, event.timestamp, span,
                    _ended(span, event) if ends else span.to_dict(), event.attributes)

    def on_end(self, span: Span) -> None:
        self._tails.pop(span.id, None)
        if span.id in self._closing:
            self._closing.discard(span.id)
        else:  # ended without its own end event (the run was cut short): say so
            self._write("loom.SpanClosed", "", span.end_time or span.start_time, span,
                        span.to_dict(), {"status": span.status})
        if span.parent_id is None:
            self.flush()

    def _write(
        self, type_: str, id_: str, timestamp: int, span: Span, span_data: dict[str, Any],
        attributes: dict[str, Any],
    ) -> None:
        # What is constant per span is encoded once; a line costs one dumps of its fields.
        ended = "end_time" in span_data
        tail = None if ended else self._tails.get(span.id)
        if tail is None:
            tail = (f',"run_id":{_dumps(span.run_id)},"span":{_dumps(span_data)},'
                    f'"path":{_dumps(list(span.path))},"step":{_dumps(span.step)}')
            if not ended:
                self._tails[span.id] = tail
        fields = _dumps(attributes) if attributes else "{}"
        # Event types and ids are ASCII identifiers: no escaping needed.
        line = (f'{{"type":"{type_}","id":"{id_}","timestamp":{int(timestamp)}'
                f'{tail}{"," if len(fields) > 2 else ""}{fields[1:]}\n')
        self.stream.write(line)
        self._unflushed += 1
        if self._unflushed >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        self._unflushed = 0
        self.stream.flush()


def _ends(event: SpanEvent) -> bool:
    return "status" in event.attributes and event.type.endswith(("End", "Response"))


def _ended(span: Span, event: SpanEvent) -> dict[str, Any]:
    data = span.to_dict()
    data["end_time"] = event.timestamp
    data["status"] = event.attributes.get("status")
    if event.attributes.get("error_type"):
        data["error_type"] = event.attributes["error_type"]
    return data


class TraceFile:
    """A runtime listener writing a trace file: ``Runtime(listeners=[TraceFile("run.jsonl")])``.

    ``include_content=True`` writes inputs, outputs, prompts, LLM text and messages
    (masked by default: they may hold personal data). The sensitive field values of
    the flows it sees and the environment's API keys are scrubbed; ``secrets`` adds
    strings to scrub (the runtime's LLM key, say). Close it (or use ``with``) to
    flush the file.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        include_content: bool = False,
        secrets: Iterable[str] = (),
        append: bool = False,
    ) -> None:
        self.path = Path(path)
        self._stream = open(self.path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115
        self.writer = TraceFileWriter(self._stream)
        self.builder = SpanBuilder(
            [self.writer],
            mask_sensitive=not include_content,
            secrets=secrets,
        )

    def add_secrets_of(self, component: Any) -> None:
        """Scrub the values of every sensitive field of ``component`` (a flow...)."""
        self.builder.add_secrets(secrets_of(component))

    def add_secrets(self, secrets: Iterable[str]) -> None:
        self.builder.add_secrets(secrets)

    def __call__(self, event: RuntimeEvent) -> None:
        self.builder(event)

    def close(self) -> None:
        if not self._stream.closed:
            self.builder.shutdown()
            self._stream.close()

    def __enter__(self) -> TraceFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- reading spans back from a trace file ---------------------------------------------


def iter_trace_lines(path: str | Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a trace file, one per line (blank lines skipped)."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}, line {number}: not JSON ({exc.msg})") from None
            if not isinstance(item, dict):
                raise ValueError(f"{path}, line {number}: not a JSON object")
            yield item


def spans_from_lines(lines: Iterable[dict[str, Any]]) -> list[Span]:
    """Rebuild the spans (with their events) that a trace file's lines describe."""
    spans: dict[tuple[str, str], Span] = {}
    order: list[Span] = []
    for line in lines:
        info = line.get("span")
        if not isinstance(info, dict) or "id" not in info:
            continue
        key = (str(line.get("run_id", "")), str(info["id"]))
        span = spans.get(key)
        if span is None:
            span = Span(
                id=str(info["id"]),
                type=str(info.get("type", "")),
                name=str(info.get("name", "")),
                start_time=int(info.get("start_time", line.get("timestamp", 0))),
                parent_id=info.get("parent_id"),
                run_id=key[0],
                path=tuple(line.get("path") or ()),
                step=str(line.get("step", "")),
            )
            spans[key] = span
            order.append(span)
        attributes = {k: v for k, v in line.items()
                      if k not in ("type", "timestamp", "span", "run_id", "path", "step", "id")}
        for ref_key in ("flow", "node", "tool", "llm_config", "agent", "swarm", "managerworkers"):
            if ref_key in attributes and ref_key not in span.attributes:
                span.attributes[ref_key] = attributes[ref_key]
        span.add_event(SpanEvent(
            id=str(line.get("id", "")), type=str(line.get("type", "")),
            timestamp=int(line.get("timestamp", 0)), span_id=span.id, attributes=attributes,
        ))
        if "end_time" in info:
            span.end_time = int(info["end_time"])
            span.status = str(info.get("status", OK))
            span.error_type = info.get("error_type")
    return order


def read_trace(path: str | Path) -> list[Span]:
    """The spans of a trace file written by :class:`~loom.observability.TraceFile`."""
    return spans_from_lines(iter_trace_lines(path))
