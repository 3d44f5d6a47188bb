"""Components loom reads and writes but has no client for: a flow holding one (a
BuiltinTool too, even in an agent that may never call it) is
refused when it is compiled, before any node runs, with what running it needs."""

from __future__ import annotations

from loom.errors import PlanError
from loom.spec.component import Component
from loom.spec.datastores import OracleDatabaseDatastore
from loom.spec.flows.flow import Flow
from loom.spec.llms import DbmsVectorChainLlmConfig, GeminiConfig, OciGenAiConfig
from loom.spec.remote_agents import OciAgent
from loom.spec.tools import BuiltinTool
from loom.spec.walk import walk

# What each would need, and what to use instead.
NEEDS: tuple[tuple[type[Component], str, str], ...] = (
    (OciAgent, "a client of OCI Generative AI Agents (the agent runs on OCI)",
     "run it on OCI, or use an Agent whose LLM config loom can call"),
    (OracleDatabaseDatastore, "an Oracle Database client",
     "use an InMemoryCollectionDatastore or a PostgresDatabaseDatastore"),
    (BuiltinTool, "an implementation of its tool_type",
     "declare it as a ServerTool of the same name and register a function of that name "
     "(Runtime(tools={...}) or --tools FILE.py), or as a ClientTool"),
)
# LLM configs whose native API loom does not speak; an LLM URL override sends their
# calls to an OpenAI-compatible server instead.
LLM_NEEDS: tuple[tuple[type[Component], str], ...] = (
    (OciGenAiConfig, "a client of OCI Generative AI's API (with OCI request signing)"),
    (GeminiConfig, "a client of Google Gemini's API (AI Studio or Vertex AI)"),
    (DbmsVectorChainLlmConfig,
     "an Oracle Database session that calls the model through DBMS_VECTOR_CHAIN"),
)
_LLM_HINT = ("use an OpenAiCompatibleConfig (or VllmConfig, OllamaConfig, OpenAiConfig) for "
             "this model, or send every LLM call to an OpenAI-compatible server "
             "(--llm-url, LOOM_LLM_URL, Runtime(llm={'url': ...}))")


def refuse_unrunnable(flow: Flow, llm_url_overridden: bool) -> None:
    """Raise PlanError naming the first component of ``flow`` loom cannot run."""
    for node in flow.nodes:
        for component in walk(node):
            problem = _problem(component, llm_url_overridden)
            if problem is not None:
                need, hint = problem
                raise PlanError(
                    f"{component.ref} cannot run in loom: it needs {need}, which loom does "
                    "not have",
                    (flow.name, node.name),
                    hint=hint,
                )


def _problem(component: Component, llm_url_overridden: bool) -> tuple[str, str] | None:
    for cls, need, hint in NEEDS:
        if isinstance(component, cls):
            return need, hint
    if not llm_url_overridden:
        for cls, need in LLM_NEEDS:
            if isinstance(component, cls):
                return need, _LLM_HINT
    return None
