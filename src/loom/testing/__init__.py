"""Test helpers shipped with loom, chiefly a real fake LLM server (``pip install 'loom[testing]'``)."""

from loom._optional import require

for _module in ("starlette", "uvicorn"):
    require(_module, "testing", "the test LLM server (loom.testing, loom run --fake-llm)")
del _module

from loom.testing.asgi import serve_asgi  # noqa: E402
from loom.testing.fake_server import FakeLlmServer  # noqa: E402
from loom.testing.fake_state import Failure, FailureKind, RecordedRequest  # noqa: E402
from loom.testing.replies import Reply, ScriptedToolCall, ToolCallsReply  # noqa: E402
from loom.testing.schema_fill import fake_instance  # noqa: E402

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
