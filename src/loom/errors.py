"""Every error loom raises on purpose, and the one function that puts them into words.

All of them derive from :class:`LoomError` and are importable from ``loom``::

    LoomError                 catch this to catch anything loom raises on purpose
    ├── SpecError             a component breaks a rule of the language (building, loading)
    ├── LoadError             a file or document cannot be read as Agent Spec
    │   └── VersionError      unknown agentspec_version, or too low for the features used
    ├── RunError              a run failed (RunResult.exception; raised by resume/claims)
    │   ├── NodeFailure       a node raised: a tool, an LLM, a bad value
    │   ├── PlanError         the flow cannot run here: a tool missing, a node unsupported
    │   └── BranchTimeout     a parallel branch ran past its time limit
    ├── CheckpointError       a checkpoint cannot be read, written or resumed (stores)
    │   ├── RunNotFound       the store has no run with this id
    │   └── RunTakenOver      another process holds the run now
    ├── LlmError              an LLM call failed (``retryable``, ``url``, ``model``)
    │   ├── LlmHttpError      the server answered non-2xx (``status``, ``retry_after``)
    │   ├── LlmTimeoutError   no complete answer within the timeout
    │   ├── LlmConnectionError  the server could not be reached
    │   └── LlmResponseError  a 2xx answer that is not a chat completion
    ├── MissingDependency     an optional package is not installed (the hint names the extra)
    ├── GraphError            a flow picture could not be drawn
    └── TimelineError         a trace timeline could not be drawn
    LoomWarning (UserWarning) accepted, but probably not what the author meant
    └── VersionWarning        a file declares a lower version than its features need

Internal signals, never seen by users: :class:`StepError` (below; an executor's
failure, which the engine turns into a NodeFailure naming the node),
``Suspended`` (runtime/journal.py: a run must wait), ``ToolResultError``
(runtime/tools.py), ``MalformedResponse`` (llm/parsing.py) and the CLI's
``CommandError`` (cli/setup.py).

:func:`describe` is the text users see for any exception, hint included once;
:func:`shorten` cuts the long values a message quotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PATH_SEPARATOR = " > "
BODY_EXCERPT_CHARS = 500
_URL_HINT = "set --llm-url or LOOM_LLM_URL"
_MODEL_HINT = "set --llm-model or LOOM_LLM_MODEL"
_KEY_HINT = "set LOOM_LLM_API_KEY (or the config's api_key)"
LONG_VALUE = 256  # characters: a longer word or quoted value in a message is cut
_LONG = re.compile(rf"(?<!\w)'[^'\n]{{{LONG_VALUE},}}'|[^\s'\"()\[\],]{{{LONG_VALUE},}}")


def shorten(text: str) -> str:
    """``text`` with each word or quoted value over LONG_VALUE characters cut to its
    start and length: a message names what to fix, it need not echo a 5,000-digit
    number (or a huge id, once per mention)."""
    return text if len(text) < LONG_VALUE else _LONG.sub(_cut, text)


def _cut(match: re.Match[str]) -> str:
    value = match[0]
    quote = "'" if value[0] == "'" == value[-1] else ""
    return f"{value[:40]}…{quote} ({len(value) - 2 * len(quote):,} characters)"


def describe(exc: BaseException, *, node: bool = True, typed: bool = True) -> str:
    """The text users see: ``[node path: ][component: ]message[ [at path]][. hint]``
    for loom's errors (``node=False`` leaves the node path out), ``message[. hint]``
    for a StepError, ``Type: message`` for any other exception (``typed=False``:
    without the type, for summaries that report it apart)."""
    if isinstance(exc, StepError):
        return shorten(_hinted(str(exc), exc.hint))
    if not isinstance(exc, LoomError):
        text = str(exc)
        if not typed:
            return text
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    parts = []
    if node and isinstance(exc, RunError) and exc.node_path:
        parts.append(f"{exc.node}: ")
    if exc.component is not None:
        parts.append(f"{exc.component}: ")
    parts.append(exc.message)
    if exc.path:
        parts.append(f" [at {exc.path}]")
    return shorten(_hinted("".join(parts), exc.hint, exc.message))


def _hinted(text: str, hint: str | None, message: str | None = None) -> str:
    if not hint:
        return text
    return text + (f" {hint}" if (message or text).endswith(".") else f". {hint}")


@dataclass(frozen=True)
class ComponentRef:
    """Identifies a component in messages: ``LlmNode 'summarize' (id 1f2e...)``."""

    component_type: str
    name: str | None = None
    id: str | None = None

    def __str__(self) -> str:
        text = self.component_type
        if self.name:
            text += f" '{self.name}'"
        if self.id and self.id != self.name:
            text += f" (id {self.id})"
        return text


class LoomError(Exception):
    """Base class of every error loom raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        component: ComponentRef | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = shorten(message)
        self.component = component
        self.path = path
        self.hint = None if hint is None else shorten(hint)
        super().__init__(describe(self))

    def describe(self) -> str:
        return describe(self)

    def located(self, path: str) -> LoomError:
        """Attach a JSON path if the error does not have one yet."""
        if self.path is None:
            self.path = path
            self.args = (describe(self),)
        return self


class SpecError(LoomError):
    """A component breaks a rule of the Agent Spec language.

    Deliberately not a ValueError: pydantic lets it through unwrapped, so the
    message the user sees is ours.
    """


class LoadError(LoomError):
    """A file or document cannot be read as Agent Spec."""


class VersionError(LoadError):
    """An ``agentspec_version`` is unknown or too low for the features used."""


class LoomWarning(UserWarning):
    """Something loom accepts but that is probably not what the author meant."""


class VersionWarning(LoomWarning):
    """A file declares a lower ``agentspec_version`` than its features need."""


# -- runs -----------------------------------------------------------------------------


class RunError(LoomError):
    """A run failed. ``node_path`` is ``flow > node > subflow > node``."""

    def __init__(self, message: str, node_path: tuple[str, ...] = (), hint: str | None = None):
        self.node_path = node_path
        super().__init__(message, hint=hint)

    @property
    def node(self) -> str:
        return PATH_SEPARATOR.join(self.node_path)


class NodeFailure(RunError):
    """A node raised (a tool error, an LLM error, a bad value...)."""


class PlanError(RunError):
    """The flow cannot run with this runtime (a tool is missing, a node unsupported)."""


class BranchTimeout(RunError):
    """A parallel branch ran past its time limit."""


class StepError(Exception):
    """Raised by an executor about its own node; the engine adds the node's path."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class CheckpointError(LoomError):
    """A checkpoint cannot be read, written or resumed."""


class RunNotFound(CheckpointError):  # noqa: N818 - reads better at the call sites
    """The store has no run with this id."""


class RunTakenOver(CheckpointError):  # noqa: N818 - reads better at the call sites
    """Another process holds the run now; this one must stop running it."""


# -- LLM calls ------------------------------------------------------------------------
# Each message names the URL and the model and says what to check. The API key
# never appears: callers pass it as ``secret`` so that a server echoing it is masked.


def redact(text: str, secret: str | None) -> str:
    """Mask ``secret`` in ``text`` so it cannot leak through a server's echo."""
    if secret:
        return text.replace(secret, "***")
    return text


def excerpt(text: str, limit: int = BODY_EXCERPT_CHARS) -> str:
    """Shorten a response body to something readable on one screen."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


class LlmError(LoomError):
    """Any failure of a chat-completions call.

    ``retryable`` says whether another attempt may help; HTTP status errors are
    judged by the :class:`~loom.llm.retry.RetryPolicy` instead.
    """

    retryable: bool = False
    received: int | None = None
    """Bytes of the answer read before a size limit or deadline stopped it."""

    def __init__(self, message: str, *, url: str, model: str, hint: str | None = None) -> None:
        self.url = url
        self.model = model
        self.attempts = 1
        super().__init__(message, hint=hint)

    def note_attempts(self, attempts: int) -> None:
        """Record how many attempts were made before giving up."""
        self.attempts = attempts
        if attempts > 1 and "gave up after" not in self.message:
            self.message = f"{self.message} (gave up after {attempts} attempts)"
            self.args = (describe(self),)


class LlmHttpError(LlmError):
    """The server answered with a non-2xx status."""

    def __init__(
        self,
        status: int,
        body: str,
        *,
        url: str,
        model: str,
        retry_after: float | None = None,
        secret: str | None = None,
    ) -> None:
        self.status = status
        self.full_body = redact(body, secret)  # the excerpt may cut what names the field
        self.body = excerpt(self.full_body)
        self.retry_after = retry_after
        message = f"LLM server at {url} (model {model!r}) answered HTTP {status}"
        if self.body:
            message += f": {self.body}"
        super().__init__(message, url=url, model=model, hint=_status_hint(status, url))


class LlmTimeoutError(LlmError):
    """No (complete) answer arrived within the per-attempt timeout."""

    retryable = True

    def __init__(
        self,
        *,
        url: str,
        model: str,
        timeout: float | None,
        detail: str = "",
        hint: str | None = None,
    ) -> None:
        self.timeout = timeout
        limit = f" within {timeout:g} s" if timeout is not None else ""
        message = f"LLM server at {url} (model {model!r}) did not answer{limit}"
        if detail:
            message += f" ({detail})"
        hint = hint or (
            "Is the server overloaded or the model still loading? Raise the timeout "
            "(retry_policy.request_timeout) or check the server's logs"
        )
        super().__init__(message, url=url, model=model, hint=hint)


class LlmConnectionError(LlmError):
    """The server could not be reached (refused, reset, DNS, TLS...)."""

    def __init__(
        self,
        *,
        url: str,
        model: str,
        detail: str,
        retryable: bool = True,
        hint: str | None = None,
    ) -> None:
        self.retryable = retryable
        message = f"cannot reach the LLM server at {url} (model {model!r}): {detail}"
        if hint is None:
            hint = f"Is the server running at {url}? {_URL_HINT}"
        super().__init__(message, url=url, model=model, hint=hint)


class LlmResponseError(LlmError):
    """The server answered 2xx but the body is not a chat completion."""

    def __init__(self, *, url: str, model: str, detail: str, hint: str | None = None) -> None:
        message = f"LLM server at {url} (model {model!r}) sent an unusable answer: {detail}"
        hint = hint or (
            f"Is {url} an OpenAI-compatible chat-completions endpoint? {_URL_HINT}"
            " (with or without the trailing /v1)"
        )
        super().__init__(message, url=url, model=model, hint=hint)


def _status_hint(status: int, url: str) -> str:
    if status in (401, 403):
        return f"Check the API key; {_KEY_HINT}"
    if status == 404:
        return f"Check the URL and the model name; {_URL_HINT}, {_MODEL_HINT}"
    if status in (400, 422):
        return "The server rejected the request; check the model name and generation parameters"
    if status == 429:
        return (
            "The server is rate-limiting; lower the concurrency or raise "
            "retry_policy.max_attempts / max_retry_delay"
        )
    if status >= 500:
        return f"The server at {url} failed; check its logs"
    return f"Check the server at {url}"


# -- pictures -------------------------------------------------------------------------


class MissingDependency(LoomError):
    """An optional package is not installed; the hint names the extra that brings it."""

    def __init__(self, package: str, extra: str, purpose: str, alternative: str | None) -> None:
        hint = f"pip install 'loom[{extra}]'"
        super().__init__(
            f"{purpose} needs {package}, which is not installed",
            hint=f"{hint}, or {alternative}" if alternative else hint,
        )
        self.package = package
        self.extra = extra


class GraphError(LoomError):
    """A picture could not be drawn (no Graphviz, unknown format)."""


class TimelineError(LoomError):
    """The trace cannot be drawn (unreadable, matplotlib missing)."""
