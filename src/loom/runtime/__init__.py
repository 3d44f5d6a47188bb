"""Executing flows: compile once into a plan, run on one asyncio engine."""

from loom.runtime.result import ErrorInfo, RunResult
from loom.runtime.runtime import Runtime
from loom.runtime.tools import inline

__all__ = [
    "ErrorInfo",
    "RunResult",
    "Runtime",
    "inline",
]
