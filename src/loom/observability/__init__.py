"""Seeing what a run does: Agent Spec spans, trace files, OpenTelemetry, live
progress, pictures of flows and timelines of runs.

Everything here listens to the runtime's events (``Runtime(listeners=[...])``,
``runtime.astream(...)``); nothing here is imported by the runtime itself. The
OpenTelemetry exporter needs ``pip install 'loom[otel]'``; pictures need
``loom[graph]`` (graphviz, matplotlib) and Graphviz's ``dot`` for SVG/PNG.
"""

from loom.observability.builder import SpanBuilder
from loom.observability.masking import MASK, REDACTED, Scrubber, secrets_of, to_jsonable
from loom.observability.spans import Span, SpanCollector, SpanEvent, SpanProcessor
from loom.observability.tracefile import TraceFile, TraceFileWriter, read_trace

__all__ = [
    "MASK",
    "REDACTED",
    "Scrubber",
    "Span",
    "SpanBuilder",
    "SpanCollector",
    "SpanEvent",
    "SpanProcessor",
    "TraceFile",
    "TraceFileWriter",
    "read_trace",
    "secrets_of",
    "to_jsonable",
]
