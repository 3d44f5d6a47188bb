"""Executing flows: compile once into a plan, run on one asyncio engine."""

from loom.runtime.host import Runtime
from loom.runtime.result import ErrorInfo, RunResult
from loom.runtime.tools import inline

__all__ = [
    "ErrorInfo",
    "RunResult",
    "Runtime",
    "inline",
]
