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
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from loom.observability.masking import environment_secrets, secrets_of
from loom.observability.spans import Span, SpanBuilder, SpanEvent, SpanProcessor
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
    (masked by default: they may hold personal data). ``secrets`` adds strings to
    scrub; the environment's API keys and, via :meth:`add_secrets_of`, a flow's
    sensitive field values are scrubbed as well. Close it (or use ``with``) to
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
            secrets=[*secrets, *environment_secrets()],
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
