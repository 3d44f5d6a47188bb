"""Every cache a Runtime keeps is bounded, or goes with its key: a process that
runs distinct flows for weeks does not grow (bench/memory.py measures it)."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import loom
from loom._cache import IdentityCache, LruCache, Same
from loom.runs import flow_digest
from loom.runtime.agents import wrap
from loom.runtime.host.runtime import FLOWS_KEPT, TEXTS_KEPT
from loom.runtime.plan import PLANS_KEPT
from loom.spec import Agent, Flow, InputMessageNode, LlmNode
from loom.stores import MemoryStore

from .conftest import linear_flow, llm_config, props, runtime, tool_node


class Key:
    """A weakly referable key that compares equal to every other Key."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key)

    __hash__ = object.__hash__


def collected(ref: weakref.ref[Any]) -> bool:
    gc.collect()
    return ref() is None


# --- the helpers ------------------------------------------------------------------------


def test_an_identity_entry_goes_with_its_key() -> None:
    cache: IdentityCache[Key, str] = IdentityCache()
    key, other = Key(), Key()
    cache.put(key, "a")
    assert cache.get(key) == "a"
    assert cache.get(other) is None  # equal is not the same
    ref = weakref.ref(key)
    del key
    assert collected(ref)
    assert len(cache) == 0


def test_an_identity_entry_whose_value_holds_its_key_is_bounded_by_maxsize() -> None:
    cache: IdentityCache[Key, tuple[Key, int]] = IdentityCache(maxsize=3)
    keys = [Key() for _ in range(5)]
    first = weakref.ref(keys[0])
    for i, key in enumerate(keys):
        cache.put(key, (key, i))
    assert len(cache) == 3
    assert cache.get(keys[0]) is None and cache.get(keys[4]) == (keys[4], 4)
    del keys, key
    assert collected(first)  # dropped by the bound, then free to go


def test_a_reused_id_is_a_new_key() -> None:
    cache: IdentityCache[Key, str] = IdentityCache()
    for i in range(200):  # CPython reuses freed addresses: some keys get an old id
        key = Key()
        assert cache.get(key) is None
        cache.put(key, str(i))
        assert cache.get(key) == str(i)
        del key
    assert len(cache) == 0


def test_lru_keeps_the_most_recently_used() -> None:
    cache: LruCache[str, int] = LruCache(maxsize=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now newer than b
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2
    assert cache.put("a", 9) == 1  # the value there wins
    assert cache.get_or_make("d", lambda: 4) == 4 and len(cache) == 2


def test_threads_making_one_key_all_get_the_value_kept() -> None:
    cache: IdentityCache[Key, object] = IdentityCache(maxsize=8)
    key = Key()
    barrier = threading.Barrier(8)
    got: list[object] = []

    def make() -> object:
        barrier.wait()  # every thread misses, then all put
        return object()

    threads = [threading.Thread(target=lambda: got.append(cache.get_or_make(key, make)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 8 and all(value is got[0] for value in got)


def test_same_compares_by_identity_and_holds_its_value() -> None:
    a, b = [1], [1]
    assert Same(a) == Same(a) and Same(a) != Same(b) and hash(Same(a)) == id(a)


# --- the runtime's caches ---------------------------------------------------------------


def double_flow(name: str) -> Flow:
    return linear_flow(name, tool_node("double", props(x="integer"), props(y="integer")),
                       inputs=props(x="integer"), outputs=props(y="integer"))


def test_plans_are_bounded_and_their_flows_freed() -> None:
    rt = runtime({"double": lambda x: x * 2}, inline_tools=True)
    flow = double_flow("first")
    assert rt.run(flow, {"x": 2}).outputs == {"y": 4}
    first = weakref.ref(flow)
    del flow
    for i in range(PLANS_KEPT + 5):
        assert rt.run(double_flow(f"f{i}"), {"x": i}).outputs == {"y": 2 * i}
    assert len(rt._compiler._plans) <= PLANS_KEPT
    assert collected(first)


def test_a_flow_object_run_again_reuses_its_plan() -> None:
    rt = runtime({"double": lambda x: x * 2})
    flow = double_flow("again")
    assert rt.compile(flow) is rt.compile(flow)


def test_a_run_that_never_checkpoints_never_serializes_its_flow() -> None:
    rt = runtime({"double": lambda x: x * 2})
    assert rt.run(double_flow("quiet"), {"x": 1}).status == "finished"
    assert len(rt._documents) == 0


def test_the_document_is_written_at_the_first_checkpoint_and_goes_with_the_flow() -> None:
    store = MemoryStore()
    rt = runtime({"double": lambda x: x * 2}, store=store)
    flow = linear_flow("asks", InputMessageNode(name="ask", message="Topic?"))
    waiting = rt.run(flow)
    assert waiting.status == "waiting" and len(rt._documents) == 1
    state = store.load(waiting.run_id or "")
    assert state.flow == loom.to_dict(flow) and state.digest == flow_digest(state.flow)
    assert rt.resume(waiting.run_id or "", {waiting.pending[0].id: "tents"}).status == "finished"
    ref = weakref.ref(flow)
    del flow
    for i in range(max(FLOWS_KEPT, PLANS_KEPT)):  # push it out of the bounded caches
        rt._flows.put(str(i), rt.load(double_flow(str(i))))
        rt.compile(double_flow(str(i)))
    assert collected(ref)
    assert len(rt._documents) == 0


def test_a_waiting_run_resumes_in_another_runtime_from_its_document() -> None:
    store = MemoryStore()
    flow = linear_flow("asks", InputMessageNode(name="ask", message="Topic?"))
    waiting = runtime({}, store=store).run(flow)
    done = runtime({}, store=store).resume(waiting.run_id or "",
                                           {waiting.pending[0].id: "tents"})
    assert done.status == "finished", done.error


def test_implicit_agent_flows_are_bounded(fake_llm: Any) -> None:
    config = llm_config(fake_llm)
    agent = Agent(name="a", llm_config=config, system_prompt="hi")
    assert wrap.as_flow(agent) is wrap.as_flow(agent)
    first = weakref.ref(agent)
    del agent
    for i in range(wrap._flows.maxsize or 0):
        wrap.as_flow(Agent(name=f"a{i}", llm_config=config, system_prompt="hi"))
    assert len(wrap._flows) <= (wrap._flows.maxsize or 0)
    assert collected(first)


def test_llm_clients_follow_the_endpoint_not_the_config_id(fake_llm: Any) -> None:
    rt = runtime({})
    services = rt.services
    one = llm_config(fake_llm, id="same-id")
    other_model = one.model_copy(update={"model_id": "other-model"})
    twin = llm_config(fake_llm, id="twin")
    assert services.llm_client(one) is services.llm_client(one)
    assert services.llm_client(other_model) is not services.llm_client(one)
    assert services.llm_client(other_model).endpoint.model == "other-model"
    assert services.llm_client(twin) is services.llm_client(one)  # same endpoint, one client
    ref = weakref.ref(twin)
    del twin
    assert collected(ref)
    assert len(services._llm_clients) == 2


# --- text -> flow -----------------------------------------------------------------------


def started_flows(rt: loom.Runtime) -> list[Any]:
    seen: list[Any] = []
    rt.listeners.append(lambda event: seen.append(event.data["flow"])
                        if event.type == "flow_start" and len(event.path) == 1 else None)
    return seen


def test_the_same_text_runs_the_same_flow_and_a_bounded_number_are_kept() -> None:
    rt = runtime({"double": lambda x: x * 2})
    text = loom.dumps(double_flow("texty"))
    seen = started_flows(rt)
    assert rt.run(text, {"x": 3}).outputs == {"y": 6}
    assert rt.run(text, {"x": 4}).outputs == {"y": 8}
    assert seen[0] is seen[1]
    assert rt.load(text) is not seen[0]  # load() always gives a new Flow
    for i in range(TEXTS_KEPT + 3):
        rt.run(loom.dumps(double_flow(f"t{i}")), {"x": 1})
    assert len(rt._texts) == TEXTS_KEPT


def test_a_changed_registry_loads_the_text_again(fake_llm: Any) -> None:
    config = llm_config(fake_llm, api_key="sk-one")
    flow = linear_flow("main", LlmNode(name="write", llm_config=config, prompt_template="Hi"),
                       outputs=props(generated_text="string"))
    text = loom.dumps(flow)  # the key is written as a reference to the registry
    key = f"{config.id}.api_key"
    rt = runtime({}, registry={key: "sk-one"})
    seen = started_flows(rt)
    for _ in range(2):
        assert rt.run(text).status == "finished"
        assert fake_llm.recorded[-1].headers.get("authorization") == "Bearer sk-one"
    rt.registry[key] = "sk-two"
    assert rt.run(text).status == "finished"
    assert fake_llm.recorded[-1].headers.get("authorization") == "Bearer sk-two"
    assert seen[0] is seen[1] and seen[2] is not seen[0]


def test_a_span_builder_forgets_the_components_of_dropped_flows() -> None:
    from loom.observability.builder import SpanBuilder

    builder = SpanBuilder()
    flow = double_flow("traced")
    assert builder.ref(flow) is builder.ref(flow)
    ref = weakref.ref(flow)
    del flow
    assert collected(ref)
    assert len(builder._refs) == 0
