"""RetryPolicy: Agent Spec defaults, delays per jitter kind, what is retried."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from loom.errors import SpecError
from loom.llm import RetryPolicy
from loom.llm.retry import Failure, retry_after, retrying


class EdgeRng(random.Random):
    """Returns the low or high end of every ``uniform`` range."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


LOW, HIGH = EdgeRng(high=False), EdgeRng(high=True)


def test_defaults_follow_agent_spec() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 2
    assert policy.request_timeout is None
    assert policy.initial_retry_delay == 1.0
    assert policy.max_retry_delay == 8.0
    assert policy.backoff_factor == 2.0
    assert policy.jitter == "full_and_equal_for_throttle"
    assert policy.service_error_retry_on_any_5xx is True
    assert policy.recoverable_statuses == {"409": [], "429": []}


def test_no_jitter_is_capped_exponential() -> None:
    policy = RetryPolicy(jitter=None)
    assert [policy.delay(n) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_full_jitter_ranges_from_zero_to_base() -> None:
    policy = RetryPolicy(jitter="full")
    assert policy.delay(2, rng=LOW) == 0.0
    assert policy.delay(2, rng=HIGH) == 4.0
    assert policy.delay(6, rng=HIGH) == 8.0


def test_equal_jitter_ranges_from_half_to_full() -> None:
    policy = RetryPolicy(jitter="equal")
    assert policy.delay(1, rng=LOW) == 1.0
    assert policy.delay(1, rng=HIGH) == 2.0
    assert policy.delay(9, rng=LOW) == 4.0


def test_decorrelated_jitter_adds_up_to_a_second() -> None:
    policy = RetryPolicy(jitter="decorrelated")
    assert policy.delay(0, rng=LOW) == 1.0
    assert policy.delay(0, rng=HIGH) == 2.0
    assert policy.delay(5, rng=HIGH) == 8.0


def test_throttle_jitter_is_equal_for_4xx_and_full_otherwise() -> None:
    policy = RetryPolicy()
    assert policy.delay(1, 429, rng=LOW) == 1.0  # equal: at least half
    assert policy.delay(1, 503, rng=LOW) == 0.0  # full
    assert policy.delay(1, None, rng=LOW) == 0.0  # timeouts/connection errors: full


def test_delays_stay_within_bounds_with_real_randomness() -> None:
    policy = RetryPolicy()
    rng = random.Random(1)
    for n in range(8):
        assert 0.0 <= policy.delay(n, 500, rng=rng) <= 8.0
        assert 0.0 < policy.delay(n, 429, rng=rng) <= 8.0


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (501, False),
        (409, True),
        (429, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
    ],
)
def test_recoverable_statuses_by_default(status: int, expected: bool) -> None:
    assert RetryPolicy().is_recoverable_status(status) is expected


def test_client_errors_are_never_retried_even_if_listed() -> None:
    policy = RetryPolicy(recoverable_statuses={"400": [], "422": []})
    assert not policy.is_recoverable_status(400)
    assert not policy.is_recoverable_status(422)


def test_5xx_only_when_enabled_or_listed() -> None:
    policy = RetryPolicy(service_error_retry_on_any_5xx=False, recoverable_statuses={"503": []})
    assert not policy.is_recoverable_status(500)
    assert policy.is_recoverable_status(503)


def test_listed_codes_must_appear_in_the_body() -> None:
    policy = RetryPolicy(recoverable_statuses={"409": ["IncorrectState"]})
    assert policy.is_recoverable_status(409, '{"code": "IncorrectState"}')
    assert not policy.is_recoverable_status(409, '{"code": "Conflict"}')


def test_from_dict_none_gives_defaults() -> None:
    assert RetryPolicy.from_dict(None) == RetryPolicy()


def test_from_dict_reads_the_spec_object() -> None:
    policy = RetryPolicy.from_dict(
        {
            "max_attempts": 5,
            "request_timeout": 2.5,
            "initial_retry_delay": 0.5,
            "max_retry_delay": 4,
            "backoff_factor": 3,
            "jitter": None,
            "service_error_retry_on_any_5xx": False,
            "recoverable_statuses": {429: ["Throttled"]},
        }
    )
    assert policy.max_attempts == 5
    assert policy.request_timeout == 2.5
    assert policy.max_retry_delay == 4.0
    assert policy.jitter is None
    assert policy.recoverable_statuses == {"429": ["Throttled"]}
    assert [policy.delay(n) for n in range(3)] == [0.5, 1.5, 4.0]


@pytest.mark.parametrize(
    "data",
    [
        {"retries": 3},
        {"jitter": "random"},
        {"max_attempts": -1},
        {"max_attempts": 1.5},
        {"max_attempts": "3"},
        {"initial_retry_delay": 10.0, "max_retry_delay": 1.0},
        {"backoff_factor": 0},
        {"request_timeout": 0},
    ],
)
def test_from_dict_rejects_bad_values(data: dict[str, object]) -> None:
    with pytest.raises(SpecError, match="retry_policy"):
        RetryPolicy.from_dict(data)


# --- Retry-After and the one retry loop ------------------------------------------------


def test_retry_after_reads_seconds_and_http_dates() -> None:
    from email.utils import formatdate

    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({"retry-after": " 0.5 "}) == 0.5
    assert retry_after({"retry-after": "-3"}) == 0.0
    assert retry_after({}) is None
    assert retry_after({"retry-after": "soon"}) is None
    later = retry_after({"retry-after": formatdate(time.time() + 30, usegmt=True)})
    assert later is not None and 28 <= later <= 30
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # past


def test_wait_takes_the_longer_of_backoff_and_retry_after_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_retry_delay=1.0, max_retry_delay=8.0, jitter=None)
    assert policy.wait(0) == 1.0
    assert policy.wait(0, 429, retry_after=0.2) == 1.0
    assert policy.wait(0, 429, retry_after=5.0) == 5.0
    assert policy.wait(0, 429, retry_after=3600.0) == 8.0


async def test_retrying_stops_on_success_on_a_verdict_or_when_the_retries_run_out() -> None:
    policy = RetryPolicy(max_attempts=2, initial_retry_delay=0.0, max_retry_delay=0.0)
    calls: list[int] = []
    noted: list[int] = []

    def attempt_failing(times: int) -> Any:
        async def attempt() -> str:
            calls.append(1)
            if len(calls) <= times:
                raise ValueError("nope")
            return "ok"

        return attempt

    def judge(status: int | None) -> Any:
        return lambda exc: None if status == -1 else Failure(status)

    assert await retrying(policy, attempt_failing(2), judge(503)) == "ok"
    assert len(calls) == 3
    for status, expected in ((503, 3), (400, 1), (-1, 1), (None, 3)):
        calls.clear()
        with pytest.raises(ValueError):
            await retrying(policy, attempt_failing(10), judge(status),
                           lambda exc, n: noted.append(n))
        assert len(calls) == expected and noted[-1] == expected
