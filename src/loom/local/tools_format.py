"""loom's chat format for llama.cpp's server: the model's own template, and tools.

llama.cpp's one format that parses tool calls (``chatml-function-calling``) leaves
``role: tool`` messages out of the prompt, HTML-escapes the text and, when tools are
offered, constrains a text answer to nothing (measured: the README's local model
section). This one renders every message with the model's own chat template (read
from the GGUF file), the tools in the system message, earlier calls as the
assistant's text and their results as the user's. Without tools a request is
answered as with the model's template alone.

With tools, a call or a text answer: the model chooses greedily between the two
labels the tool list teaches it, and a call's arguments are constrained to the
tool's JSON schema. After tool results the answer is text, not the model's choice:
SmolLM2-135M, shown a result, prefers another call under every labelling tried (so
an agent on it makes one round of calls per user message). One call per answer.

It runs inside the server process (:mod:`loom.local.serve` registers it): this
module imports llama_cpp.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import llama_cpp
from llama_cpp import llama_chat_format, llama_grammar

from loom.local.server import TOOLS_CHAT_FORMAT

CALL = "CALL"
ANSWER = "ANSWER"
OPEN = "<tool_call>"
_CHOICE_TOKENS = 32  # enough for the call label and a long tool name


def tool_list(tools: Sequence[Mapping[str, Any]]) -> str:
    """The system prompt's part that names the tools and the two ways to answer."""
    lines = ["", "", "You have these tools:"]
    for tool in tools:
        function = tool.get("function") or {}
        parameters = json.dumps(function.get("parameters") or {}, ensure_ascii=False)
        lines.append(f"- {function.get('name')}: {function.get('description') or ''} "
                     f"Arguments: {parameters}")
    first = (tools[0].get("function") or {}).get("name") if tools else "TOOL"
    lines += [f'Answer in one of two ways. To call a tool: {CALL} {first} {{"argument": "..."}}',
              f"To reply to the user: {ANSWER} your reply"]
    return "\n".join(lines)


def call_text(name: str, arguments: str) -> str:
    """An earlier call as the assistant's text: SmolLM2 used a result after a call
    shown this way (tool-call tags) in 4 of 5 tries, after ``CALL name args`` in 1-3."""
    return f'{OPEN}{{"name": {json.dumps(name)}, "arguments": {arguments}}}</tool_call>'


class _FirstTokenBarred:
    """A logits processor that bars one token at the answer's first position: a text
    answer then cannot open as a call (the model tends to copy the earlier ones)."""

    def __init__(self, token: int) -> None:
        self.token = token
        self.start: int | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.start is None:
            self.start = len(input_ids)
        if len(input_ids) == self.start:
            scores[self.token] = -float("inf")
        return scores


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # OpenAI content parts: keep the text ones
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def plain_messages(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None
) -> list[dict[str, str]]:
    """``messages`` as role and text only, which any chat template renders: the tools
    in the system message, calls as the assistant's text, results as the user's."""
    names: dict[str, str] = {}
    plain: list[dict[str, str]] = []
    for message in messages:
        role, parts = str(message.get("role")), [_text(message.get("content"))]
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            names[str(call.get("id"))] = str(function.get("name"))
            parts.append(call_text(str(function.get("name")), str(function.get("arguments") or "{}")))
        if role == "tool":
            name = names.get(str(message.get("tool_call_id")), "the tool")
            role, parts = "user", [f"{name} returned: {parts[0]}"]
        plain.append({"role": role, "content": "\n".join(p for p in parts if p)})
    if tools:
        if plain and plain[0]["role"] == "system":
            plain[0] = {"role": "system", "content": plain[0]["content"] + tool_list(tools)}
        else:
            plain.insert(0, {"role": "system", "content": tool_list(tools).lstrip()})
    return plain


def _named(tool_choice: Any) -> str | None:
    if isinstance(tool_choice, Mapping):
        return str((tool_choice.get("function") or {}).get("name"))
    return None


class _Formatter:
    """The model's template over :func:`plain_messages`. Tools are listed unless
    ``tool_choice`` is "none"; a named one ends the prompt with its call's label, so
    the model writes only the arguments."""

    def __init__(self, template: Any) -> None:
        self.template = template

    def __call__(self, *, messages: Any, tools: Any = None, tool_choice: Any = None,
                 **kwargs: Any) -> Any:
        offered = tools if tool_choice != "none" else None
        result = self.template(messages=plain_messages(messages, offered))
        name = _named(tool_choice)
        if name is not None:
            result.prompt += f"{CALL} {name} "
        return result


class _Model:
    """What one loaded model needs: its template as a formatter, the handler over it,
    and the first token of an earlier call's text (kept out of a text answer's start)."""

    def __init__(self, llama: Any) -> None:
        eos, bos = llama.token_eos(), llama.token_bos()
        template = llama_chat_format.Jinja2ChatFormatter(
            template=llama.metadata["tokenizer.chat_template"],
            eos_token=_token_text(llama, eos), bos_token=_token_text(llama, bos),
            stop_token_ids=[eos],
        )
        self.formatter = _Formatter(template)
        self.handler: Any = llama_chat_format.chat_formatter_to_chat_completion_handler(
            self.formatter)
        self.call_token = int(llama.tokenize(OPEN.encode(), add_bos=False)[0])


def _token_text(llama: Any, token: int) -> str:
    return llama.detokenize([token], special=True).decode("utf-8") if token >= 0 else ""


_MODELS: weakref.WeakKeyDictionary[Any, _Model] = weakref.WeakKeyDictionary()


def _choice_grammar(names: Sequence[str], required: bool) -> Any:
    calls = " | ".join(json.dumps(f"{CALL} {name} ") for name in names)
    root = "calls" if required else f"calls | {json.dumps(ANSWER)}"
    return llama_grammar.LlamaGrammar.from_string(f"root ::= {root}\ncalls ::= {calls}\n",
                                                  verbose=False)


def choose(llama: Any, model: _Model, messages: Any, tools: Sequence[Mapping[str, Any]],
           required: bool, seed: int | None) -> str | None:
    """The tool the model calls, or None for a text answer: its greedy choice
    between the call label of each tool and the answer label."""
    names = [str((t.get("function") or {}).get("name")) for t in tools]
    prompt = model.formatter(messages=messages, tools=tools).prompt
    tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    answer = llama.create_completion(prompt=tokens, temperature=0.0, seed=seed,
                                     max_tokens=_CHOICE_TOKENS,
                                     grammar=_choice_grammar(names, required))
    text = str(answer["choices"][0]["text"])
    return next((name for name in names if text == f"{CALL} {name} "), None)


def handle(*, llama: Any, messages: Any, tools: Any = None, tool_choice: Any = None,
           functions: Any = None, function_call: Any = None, **params: Any) -> Any:
    """A chat completion: a call of one tool, or text (streamed when asked)."""
    model = _MODELS.get(llama)
    if model is None:
        model = _MODELS[llama] = _Model(llama)
    if functions and not tools:  # the legacy form of tools
        tools = [{"type": "function", "function": f} for f in functions]
        tool_choice = tool_choice or function_call
    if tools and tool_choice in (None, "auto", "required"):
        after_results = bool(messages) and messages[-1].get("role") == "tool"
        name = None
        if tool_choice == "required" or not after_results:
            name = choose(llama, model, messages, tools, tool_choice == "required",
                          params.get("seed"))
        tool_choice = {"type": "function", "function": {"name": name}} if name else "none"
    if tools and tool_choice == "none":
        params["logits_processor"] = llama_cpp.LogitsProcessorList(
            [*(params.get("logits_processor") or ()), _FirstTokenBarred(model.call_token)])
    return model.handler(llama=llama, messages=messages, tools=tools, tool_choice=tool_choice,
                         **params)


def register() -> None:
    """Make ``--chat_format loom-tools`` name this format (in this process)."""
    llama_chat_format.register_chat_completion_handler(TOOLS_CHAT_FORMAT)(handle)
