"""Retry policy with the Agent Spec ``RetryPolicy`` semantics.

The defaults match the spec, so a config without ``retry_policy`` behaves the
same here as in any other Agent Spec runtime.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from loom.errors import SpecError

Jitter = Literal["equal", "full", "full_and_equal_for_throttle", "decorrelated"]
JITTERS: tuple[str, ...] = get_args(Jitter)

NEVER_RETRIED: frozenset[int] = frozenset({400, 401, 403, 422})
"""Statuses that mean the request itself is wrong: retrying cannot help."""


_NUMERIC_FIELDS: dict[str, type] = {
    "max_attempts": int,
    "request_timeout": float,
    "initial_retry_delay": float,
    "max_retry_delay": float,
    "backoff_factor": float,
}


def _number(name: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"retry_policy.{name} must be a number, got {value!r}")
    if kind is int and value != int(value):
        raise SpecError(f"retry_policy.{name} must be a whole number, got {value!r}")
    return kind(value)


def _default_recoverable() -> dict[str, list[str]]:
    return {"409": [], "429": []}


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a request again.

    ``max_attempts`` counts retries, not the first attempt. A status listed in
    ``recoverable_statuses`` with an empty list is always retried; with a
    non-empty list it is retried only when the response body contains one of
    the listed strings (e.g. a provider error code).
    """

    max_attempts: int = 2
    request_timeout: float | None = None
    initial_retry_delay: float = 1.0
    max_retry_delay: float = 8.0
    backoff_factor: float = 2.0
    jitter: Jitter | None = "full_and_equal_for_throttle"
    service_error_retry_on_any_5xx: bool = True
    recoverable_statuses: dict[str, list[str]] = field(default_factory=_default_recoverable)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RetryPolicy:
        """Build a policy from the spec's plain object (``None`` -> defaults)."""
        if data is None:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(
                f"unknown retry_policy field(s): {', '.join(unknown)}",
                hint=f"Known fields: {', '.join(sorted(known))}",
            )
        values = dict(data)
        for name, kind in _NUMERIC_FIELDS.items():
            if values.get(name) is not None:
                values[name] = _number(name, values[name], kind)
        if "recoverable_statuses" in values and values["recoverable_statuses"] is not None:
            values["recoverable_statuses"] = {
                str(code): [str(item) for item in (items or [])]
                for code, items in dict(values["recoverable_statuses"]).items()
            }
        elif "recoverable_statuses" in values:
            values["recoverable_statuses"] = {}
        policy = cls(**values)
        policy.validate()
        return policy

    def validate(self) -> None:
        """Reject values that the spec forbids, naming the field."""
        if self.max_attempts < 0:
            raise SpecError("retry_policy.max_attempts must be >= 0")
        if self.request_timeout is not None and self.request_timeout <= 0:
            raise SpecError("retry_policy.request_timeout must be > 0 when set")
        if self.initial_retry_delay < 0 or self.max_retry_delay < 0:
            raise SpecError("retry_policy delays must be >= 0")
        if self.max_retry_delay < self.initial_retry_delay:
            raise SpecError("retry_policy.max_retry_delay must be >= initial_retry_delay")
        if self.backoff_factor <= 0:
            raise SpecError("retry_policy.backoff_factor must be > 0")
        if self.jitter is not None and self.jitter not in JITTERS:
            raise SpecError(
                f"unknown retry_policy.jitter {self.jitter!r}",
                hint=f"Use one of {', '.join(JITTERS)} or null",
            )

    def is_recoverable_status(self, status: int, body: str = "") -> bool:
        """Whether an HTTP error status is worth another attempt."""
        if status in NEVER_RETRIED:
            return False
        if status >= 500 and status != 501 and self.service_error_retry_on_any_5xx:
            return True
        codes = self.recoverable_statuses.get(str(status))
        if codes is None:
            return False
        return not codes or any(code in body for code in codes)

    def delay(
        self,
        retry_index: int,
        status: int | None = None,
        *,
        rng: random.Random | None = None,
    ) -> float:
        """Seconds to wait before retry number ``retry_index`` (0 = first retry).

        ``status`` is the HTTP status that failed, or ``None`` for a timeout or
        a connection error (treated like a 5xx service error).
        """
        uniform = (rng or random).uniform
        base = self.initial_retry_delay * self.backoff_factor**retry_index
        cap = self.max_retry_delay
        jitter: str | None = self.jitter
        if jitter == "full_and_equal_for_throttle":
            throttled = status is not None and 400 <= status < 500
            jitter = "equal" if throttled else "full"
        if jitter == "full":
            return min(uniform(0, base), cap)
        if jitter == "equal":
            return min(base, cap) * (1 + uniform(0, 1)) / 2
        if jitter == "decorrelated":
            return min(base + uniform(0, 1), cap)
        return min(base, cap)


def policy_from_any(value: RetryPolicy | Mapping[str, Any] | None) -> RetryPolicy:
    """Accept a ready policy, the spec's plain object, or nothing."""
    if isinstance(value, RetryPolicy):
        return value
    return RetryPolicy.from_dict(value)
