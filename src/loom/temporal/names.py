"""The names client, workflow and workers agree on."""

WORKFLOW = "loom.run"
TOOL_ACTIVITY = "loom.tool"
LLM_ACTIVITY = "loom.llm"
SETTLE_UPDATE = "loom.settle"
ANSWER_UPDATE = "loom.answer"
VIEW_QUERY = "loom.view"
DEFAULT_TASK_QUEUE = "loom"
PAYLOAD_LIMIT = 2_000_000  # bytes: Temporal refuses a payload over 2 MB, for ever
