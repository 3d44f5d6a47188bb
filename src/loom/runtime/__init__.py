"""Executing flows: compile once into a plan, run on one asyncio engine."""

from loom.runtime.errors import BranchTimeout, NodeFailure, PlanError, RunError
from loom.runtime.result import ErrorInfo, RunResult
from loom.runtime.runtime import Runtime
from loom.runtime.tools import inline

__all__ = [
    "BranchTimeout",
    "ErrorInfo",
    "NodeFailure",
    "PlanError",
    "RunError",
    "RunResult",
    "Runtime",
    "inline",
]
