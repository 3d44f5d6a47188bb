"""Events kept with their run (what a server replays after a restart), on every store."""

from __future__ import annotations

from typing import Any

from .test_stores import state


def test_events_are_kept_in_order_after_a_number_and_deleted_with_their_run(
    any_store_backend: Any,
) -> None:
    store = any_store_backend.open()
    store.save(state("r1"))
    store.save_events("r1", [(1, "FlowExecutionStart", '{"a": 1}'), (2, "X", '{"b": 2}')])
    store.save_events("r1", [(2, "X", '{"changed": true}'), (4, "Y", "{}")])  # 2 is kept
    store.save_events("r2", [(1, "Other", "{}")])
    again = any_store_backend.open()  # another connection, as another process would have
    assert again.load_events("r1") == [
        (1, "FlowExecutionStart", '{"a": 1}'), (2, "X", '{"b": 2}'), (4, "Y", "{}")]
    assert again.load_events("r1", 2) == [(4, "Y", "{}")]
    assert again.load_events("nothing") == []
    assert store.delete("r1")
    assert store.load_events("r1") == [] and store.load_events("r2") == [(1, "Other", "{}")]
