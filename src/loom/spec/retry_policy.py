"""RetryPolicy (AGENTSPEC 7.4), the one model behind every ``retry_policy`` field
(kept as the author's dict) and every retry loom makes (``loom.llm.retry``)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from loom.errors import ComponentRef, SpecError

Jitter = Literal["equal", "full", "full_and_equal_for_throttle", "decorrelated"]
JITTER_MODES: tuple[str, ...] = get_args(Jitter)

NEVER_RETRIED: frozenset[int] = frozenset({400, 401, 403, 422})
"""Statuses that mean the request itself is wrong: retrying cannot help."""


def _default_recoverable() -> dict[str, list[str]]:
    return {"409": [], "429": []}


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts retries. A status in ``recoverable_statuses`` is
    retried when its list is empty or the body contains one of its strings."""

    max_attempts: int = 2
    request_timeout: float | None = None
    initial_retry_delay: float = 1.0
    max_retry_delay: float = 8.0
    backoff_factor: float = 2.0
    jitter: Jitter | None = "full_and_equal_for_throttle"
    service_error_retry_on_any_5xx: bool = True
    recoverable_statuses: dict[str, list[str]] = field(default_factory=_default_recoverable)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any] | None, component: ComponentRef | None = None
    ) -> RetryPolicy:
        """The policy of a spec object (``None``: the defaults); raises SpecError."""
        values = dict(data or {})
        if "recoverable_statuses" in values:  # the Python API may give int keys or None
            statuses = values["recoverable_statuses"] or {}
            values["recoverable_statuses"] = {str(code): v for code, v in statuses.items()}
        check_retry_policy(values, component=component)
        if "recoverable_statuses" in values:
            values["recoverable_statuses"] = {
                code: list(v) for code, v in values["recoverable_statuses"].items()
            }
        return cls(**values)

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
        self, retry_index: int, status: int | None = None, *, rng: random.Random | None = None
    ) -> float:
        """Seconds before retry ``retry_index`` (0 = the first); ``status`` ``None``
        (a timeout, a connection error) counts as a service error."""
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

    def wait(
        self, retry_index: int, status: int | None = None, retry_after: float | None = None
    ) -> float:
        """:meth:`delay`, or a longer ``Retry-After`` capped at ``max_retry_delay``."""
        delay = self.delay(retry_index, status)
        if retry_after is None:
            return delay
        return max(delay, min(retry_after, self.max_retry_delay))


RETRY_POLICY_DEFAULTS: dict[str, Any] = asdict(RetryPolicy())


def check_retry_policy(
    policy: Mapping[str, Any], field: str = "retry_policy", component: ComponentRef | None = None
) -> None:
    """Known keys only, types, bounds, jitter mode; a SpecError names the field."""

    def fail(message: str, hint: str) -> SpecError:
        return SpecError(message, component=component, hint=hint)

    unknown = sorted(set(policy) - set(RETRY_POLICY_DEFAULTS))
    if unknown:
        raise fail(f"{field} has unknown key(s) {unknown}",
                   f"a retry policy accepts only {sorted(RETRY_POLICY_DEFAULTS)}")
    for key in ("max_attempts", "request_timeout", "initial_retry_delay", "max_retry_delay",
                "backoff_factor"):
        value, where = policy.get(key), f"{field}.{key}"
        if key not in policy or (key == "request_timeout" and value is None):
            continue
        integer = key == "max_attempts"
        kind = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            null = " or null" if key == "request_timeout" else ""
            raise fail(f"{where} must be {kind}{null}, got {value!r}", f"write {where} as {kind}")
        exclusive = key in ("request_timeout", "backoff_factor")
        if value < 0 or (exclusive and value == 0):
            bound = "greater than 0" if exclusive else "at least 0"
            raise fail(f"{where} must be {bound}, got {value!r}", f"use a value {bound}")
    jitter = policy.get("jitter", RETRY_POLICY_DEFAULTS["jitter"])
    if jitter is not None and jitter not in JITTER_MODES:
        raise fail(f"{field}.jitter {jitter!r} is not a jitter mode",
                   f"use one of {list(JITTER_MODES)} or null (no jitter)")
    retry_5xx = policy.get("service_error_retry_on_any_5xx", True)
    if not isinstance(retry_5xx, bool):
        raise fail(
            f"{field}.service_error_retry_on_any_5xx must be true or false, got {retry_5xx!r}",
            "write true (retry every 5xx but 501) or false",
        )
    statuses = policy.get("recoverable_statuses", {})
    if not isinstance(statuses, Mapping) or not all(
        isinstance(code, str) and isinstance(names, list) and all(isinstance(n, str) for n in names)
        for code, names in statuses.items()
    ):
        raise fail(
            f"{field}.recoverable_statuses must map HTTP statuses (strings) to lists of error codes",
            'e.g. {"429": [], "409": ["Conflict"]}',
        )
    initial = policy.get("initial_retry_delay", RETRY_POLICY_DEFAULTS["initial_retry_delay"])
    maximum = policy.get("max_retry_delay", RETRY_POLICY_DEFAULTS["max_retry_delay"])
    if maximum < initial:
        raise fail(
            f"{field}.max_retry_delay ({maximum}) is smaller than initial_retry_delay ({initial})",
            "max_retry_delay caps the delay, so it must be >= initial_retry_delay",
        )


def retry_settings(policy: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A retry policy with every default filled in (``None``: no retries configured)."""
    return None if policy is None else asdict(RetryPolicy.from_dict(policy))
