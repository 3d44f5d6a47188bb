"""Errors raised while talking to an LLM server.

Each message names the URL and the model and says what to check, because the
person reading it usually has to fix a config file or an environment variable.
The API key never appears: callers pass it in ``secret`` so that a server that
echoes it back in an error body gets it masked.
"""

from __future__ import annotations

from loom.errors import LoomError

_URL_HINT = "set --llm-url or LOOM_LLM_URL"
_MODEL_HINT = "set --llm-model or LOOM_LLM_MODEL"
_KEY_HINT = "set --llm-api-key or LOOM_LLM_API_KEY"
BODY_EXCERPT_CHARS = 500


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
            self.args = (self.describe(),)


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
        self.body = excerpt(redact(body, secret))
        self.retry_after = retry_after
        message = f"LLM server at {url} (model {model!r}) answered HTTP {status}"
        if self.body:
            message += f": {self.body}"
        super().__init__(message, url=url, model=model, hint=_status_hint(status, url))


class LlmTimeoutError(LlmError):
    """No (complete) answer arrived within the per-attempt timeout."""

    retryable = True

    def __init__(self, *, url: str, model: str, timeout: float | None, detail: str = "") -> None:
        self.timeout = timeout
        limit = f" within {timeout:g} s" if timeout is not None else ""
        message = f"LLM server at {url} (model {model!r}) did not answer{limit}"
        if detail:
            message += f" ({detail})"
        hint = (
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

    def __init__(self, *, url: str, model: str, detail: str) -> None:
        message = f"LLM server at {url} (model {model!r}) sent an unusable answer: {detail}"
        hint = (
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
