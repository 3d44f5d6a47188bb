"""The four tools of the marketing example, by ServerTool name.

Each sleeps ``LOOM_EXAMPLE_TOOL_DELAY`` seconds (default 0.5) to stand for a
slow service, so running them in parallel visibly saves time.
"""

from __future__ import annotations

import os
import time

DELAY = float(os.environ.get("LOOM_EXAMPLE_TOOL_DELAY", "0.5"))


def get_current_time() -> str:
    time.sleep(DELAY)
    return "2025-05-01T09:30:00"


def get_user_information(username: str) -> dict[str, str]:
    time.sleep(DELAY)
    return {"name": username.title(), "birthday": "1990-05-01", "city": "Lisbon"}


def get_user_last_purchases(username: str) -> list[dict[str, str]]:
    time.sleep(DELAY)
    return [{"item": "tent"}, {"item": "camping lamp"}]


def get_items_on_sale() -> list[dict[str, str]]:
    time.sleep(DELAY)
    return [{"item": "sleeping bag"}, {"item": "kayak"}]
