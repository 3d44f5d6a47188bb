"""Test helpers shipped with loom, chiefly a real fake LLM server."""

from loom.testing.asgi import serve_asgi
from loom.testing.fake_server import FakeLlmServer
from loom.testing.fake_state import Failure, FailureKind, RecordedRequest
from loom.testing.replies import Reply, ScriptedToolCall, ToolCallsReply
from loom.testing.schema_fill import fake_instance

__all__ = [
    "Failure",
    "FailureKind",
    "FakeLlmServer",
    "RecordedRequest",
    "Reply",
    "ScriptedToolCall",
    "ToolCallsReply",
    "fake_instance",
    "serve_asgi",
]
