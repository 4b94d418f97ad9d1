"""The one place that talks to Anthropic's Messages API.

Callers get a plain `LLMResult` (or a stream of text) or an `LLMError` — 502 `llm_error`
whose `cause` names what went wrong (`model_not_found`, `authentication`, `timeout`,
`overloaded`, ...) — never the SDK's exception zoo, so a view can render it and the answer
engine can decide to fall back to the local engine.

Every call runs inside one time budget (`Deadline`): the SDK's own retries are off and we
retry transient failures here only while the budget lasts, so a model call never holds a
request thread longer than its timeout, retries included.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anthropic

from errors import ServiceUnavailable

log = logging.getLogger("companin.llm")

MAX_RETRIES = 2
MIN_ATTEMPT_SECONDS = 1.0  # no retry when less than this is left of the budget
_BACKOFF_START, _BACKOFF_MAX = 0.5, 8.0
_CLIENT_CACHE_SIZE = 8
_clients: OrderedDict[tuple[str, str | None], anthropic.Anthropic] = OrderedDict()
_clients_lock = threading.Lock()
T = TypeVar("T")

# error.type in Anthropic's error body → our cause (it also arrives inside a 200 stream).
_TYPE_CAUSES = {
    "authentication_error": "authentication", "permission_error": "permission",
    "not_found_error": "model_not_found", "invalid_request_error": "bad_request",
    "request_too_large": "request_too_large", "rate_limit_error": "rate_limited",
    "overloaded_error": "overloaded", "api_error": "server_error",
    "timeout_error": "timeout", "billing_error": "billing",
}
_STATUS_CAUSES = {
    400: "bad_request", 401: "authentication", 402: "billing", 403: "permission",
    404: "model_not_found", 408: "timeout", 413: "request_too_large", 429: "rate_limited",
    529: "overloaded",
}
_MESSAGES = {
    "timeout": "The language model did not answer in time.",
    "connection": "The language model service could not be reached.",
    "authentication": "The language model service refused the API key.",
    "permission": "The API key is not allowed to use this model.",
    "billing": "The language model account cannot be billed.",
    "model_not_found": 'The model "{model}" does not exist or this key cannot use it.',
    "bad_request": "The language model service refused the request as invalid.",
    "request_too_large": "The request is too large for the language model.",
    "rate_limited": "The language model service is rate limiting this account.",
    "overloaded": "The language model service is overloaded.",
    "server_error": "The language model service failed.",
    "client_error": "The language model service refused the request.",
    "unknown": "The language model call failed.",
}
_TRANSPORT_MODULES = ("httpx2", "httpx", "httpcore", "httpcore2")
RETRYABLE = frozenset({"connection", "rate_limited", "overloaded", "server_error"})


class LLMError(ServiceUnavailable):
    """The language model failed: 502 `llm_error`, `details.cause` says why.

    A ServiceUnavailable subclass so code that already falls back on a backing-service
    failure (source enrichment) keeps doing so."""

    status = 502
    code = "llm_error"

    def __init__(self, cause: str, *, model: str, upstream_status: int | None = None,
                 retry_after: float | None = None, should_retry: bool | None = None) -> None:
        message = _MESSAGES.get(cause, _MESSAGES["unknown"]).format(model=model)
        if upstream_status:
            message = f"{message[:-1]} (HTTP {upstream_status})."
        details: dict[str, Any] = {"cause": cause, "model": model}
        if upstream_status:
            details["upstream_status"] = upstream_status
        super().__init__(message, code="llm_error", details=details)
        self.cause = cause
        self.retry_after = retry_after
        self.retryable = cause in RETRYABLE if should_retry is None else should_retry


@dataclass(frozen=True)
class LLMResult:
    text: str
    model: str
    input_tokens: int
    output_tokens: int
    stop_reason: str | None


class Deadline:
    """One time budget shared by every attempt and continuation of a model call."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.at = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self, model: str) -> float:
        left = self.remaining()
        if left <= 0:
            raise LLMError("timeout", model=model)
        return left


def complete(
    *,
    api_key: str,
    model: str,
    system: str,
    messages: list[dict[str, Any]],
    max_tokens: int = 1024,
    base_url: str | None = None,
    timeout: float = 30,
    deadline: Deadline | None = None,
) -> LLMResult:
    """One Messages API reply; transient failures are retried within the time budget."""
    client = _client(api_key, base_url)
    deadline = deadline or Deadline(timeout)

    def call(seconds: float) -> Any:
        return client.messages.create(
            model=model, system=system, messages=messages,  # type: ignore[arg-type]
            max_tokens=max_tokens, timeout=seconds,
        )

    response = _with_retries(call, deadline, model)
    text = "".join(
        getattr(block, "text", "") for block in response.content if block.type == "text"
    )
    return _result(text, response, model)


class LLMStream:
    """Text deltas of one streamed reply; `result` is set once the stream has ended.

    Iterating raises LLMError if the model fails or the budget runs out mid-stream."""

    def __init__(self, stream: Any, model: str, deadline: Deadline) -> None:
        self._stream = stream
        self._model = model
        self._deadline = deadline
        self.result: LLMResult | None = None

    def __iter__(self) -> Iterator[str]:
        parts: list[str] = []
        try:
            for event in self._stream:
                if event.type == "text" and event.text:
                    parts.append(event.text)
                    yield event.text
                self._deadline.check(self._model)
            final = self._stream.get_final_message()
        except anthropic.AnthropicError as exc:
            raise _llm_error(exc, self._model) from None
        except Exception as exc:  # the transport's own errors surface raw mid-stream
            if type(exc).__module__.split(".")[0] not in _TRANSPORT_MODULES:
                raise
            cause = "timeout" if "Timeout" in type(exc).__name__ else "connection"
            raise LLMError(cause, model=self._model) from None
        self.result = _result("".join(parts), final, self._model)


@contextmanager
def stream(
    *,
    api_key: str,
    model: str,
    system: str,
    messages: list[dict[str, Any]],
    max_tokens: int = 1024,
    base_url: str | None = None,
    deadline: Deadline,
) -> Iterator[LLMStream]:
    """A streamed reply (the SDK's streaming API). Opening it — the HTTP status — is
    retried like `complete`; once text flows a failure is final. Leaving the block closes
    the upstream connection, also when the consumer stops early."""
    client = _client(api_key, base_url)

    def open_stream(seconds: float) -> Any:
        manager = client.messages.stream(
            model=model, system=system, messages=messages,  # type: ignore[arg-type]
            max_tokens=max_tokens, timeout=seconds,
        )
        return manager.__enter__()

    opened = _with_retries(open_stream, deadline, model)
    try:
        yield LLMStream(opened, model, deadline)
    finally:
        opened.close()


def _with_retries(call: Callable[[float], T], deadline: Deadline, model: str) -> T:
    attempt = 0
    while True:
        seconds = deadline.check(model)
        try:
            return call(seconds)
        except anthropic.AnthropicError as exc:
            error = _llm_error(exc, model)
        wait = error.retry_after if error.retry_after is not None else min(
            _BACKOFF_START * 2 ** attempt, _BACKOFF_MAX) * (1 - 0.25 * random.random())
        attempt += 1
        if (not error.retryable or attempt > MAX_RETRIES
                or deadline.remaining() - wait < MIN_ATTEMPT_SECONDS):
            log.warning("llm call failed: cause=%s model=%s status=%s attempts=%d",
                        error.cause, model, error.details.get("upstream_status"), attempt)
            raise error
        time.sleep(max(wait, 0.0))


def _llm_error(exc: Exception, model: str) -> LLMError:
    if isinstance(exc, anthropic.APITimeoutError):
        return LLMError("timeout", model=model)
    if isinstance(exc, anthropic.APIConnectionError):
        return LLMError("connection", model=model)
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        cause = (_TYPE_CAUSES.get(getattr(exc, "type", None) or "")
                 or _STATUS_CAUSES.get(status)
                 or ("server_error" if status >= 500 else "client_error"))
        headers = exc.response.headers
        hint = headers.get("x-should-retry")
        return LLMError(cause, model=model,
                        upstream_status=status if status >= 400 else None,
                        retry_after=_retry_after(headers),
                        should_retry={"true": True, "false": False}.get(hint or ""))
    return LLMError("unknown", model=model)


def _retry_after(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return max(float(headers.get(name)) / scale, 0.0)
        except (TypeError, ValueError):
            continue
    return None


def _result(text: str, message: Any, model: str) -> LLMResult:
    usage = getattr(message, "usage", None)
    return LLMResult(
        text=text,
        model=getattr(message, "model", None) or model,
        input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        stop_reason=getattr(message, "stop_reason", None),
    )


def _client(api_key: str, base_url: str | None) -> anthropic.Anthropic:
    """Reuse clients (connection pools, TLS contexts) across calls with the same settings.
    Retries are ours (`_with_retries`), so they stay inside the caller's time budget."""
    key = (api_key, base_url)
    with _clients_lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client
        client = anthropic.Anthropic(api_key=api_key, base_url=base_url, max_retries=0)
        _clients[key] = client
        while len(_clients) > _CLIENT_CACHE_SIZE:
            _clients.popitem(last=False)
        return client
