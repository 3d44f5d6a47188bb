"""Durable runs on Temporal (``loom[temporal]``): the engine runs inside one workflow
type, every tool and LLM call is an activity. See the README's "Temporal backend"."""

from loom._optional import require

require("temporalio", "temporal", "the Temporal backend")

from loom.temporal.activities import Activities  # noqa: E402
from loom.temporal.backend import TemporalBackend, parse_backend  # noqa: E402
from loom.temporal.claim_check import ClaimCheckStore, open_claim_check  # noqa: E402
from loom.temporal.converter import connect  # noqa: E402
from loom.temporal.worker import make_worker, serve  # noqa: E402

__all__ = [
    "Activities", "ClaimCheckStore", "TemporalBackend", "connect", "make_worker",
    "open_claim_check", "parse_backend", "serve",
]
