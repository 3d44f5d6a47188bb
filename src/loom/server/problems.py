"""The errors the API answers with: ``{"error": {"code", "message", "where"}}``,
with an HTTP status, and the messages of loom's own errors (errors.describe)."""

from __future__ import annotations

from typing import Any

from loom.errors import LoomError, describe


class ApiError(Exception):
    """An answer other than success: ``ApiError(404, "not_found", "no run 'x'")``."""

    def __init__(self, status: int, code: str, message: str, where: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.where = where
        self.headers = headers or {}

    @classmethod
    def of(cls, status: int, code: str, exc: BaseException, where: str | None = None) -> ApiError:
        """From a loom error: its message as the CLI prints it."""
        path = exc.path if isinstance(exc, LoomError) else None
        return cls(status, code, describe(exc), where or path)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "where": self.where}}


def not_found(what: str, name: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what} '{name}'", where=name)
