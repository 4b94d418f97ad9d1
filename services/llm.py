"""The one place that talks to Anthropic's Messages API.

Callers get a plain `LLMResult` or a `ServiceUnavailable(code="llm_unavailable")`; they
never see the SDK's exception zoo, so a provider outage renders as a clean 503 and jobs can
decide to fall back to local engines.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import anthropic

from errors import ServiceUnavailable

MAX_RETRIES = 2
_CLIENT_CACHE_SIZE = 8
_clients: OrderedDict[tuple[str, str | None, float], anthropic.Anthropic] = OrderedDict()
_clients_lock = threading.Lock()


@dataclass(frozen=True)
class LLMResult:
    text: str
    model: str
    input_tokens: int
    output_tokens: int
    stop_reason: str | None


def complete(
    *,
    api_key: str,
    model: str,
    system: str,
    messages: list[dict[str, Any]],
    max_tokens: int = 1024,
    base_url: str | None = None,
    timeout: float = 30,
) -> LLMResult:
    """One Messages API call (the SDK retries transient failures `MAX_RETRIES` times)."""
    client = _client(api_key, base_url, timeout)
    try:
        response = client.messages.create(
            model=model,
            system=system,
            messages=messages,  # type: ignore[arg-type]
            max_tokens=max_tokens,
        )
    except anthropic.APITimeoutError:
        raise _unavailable("The language model did not answer in time.") from None
    except anthropic.APIConnectionError:
        raise _unavailable("The language model service could not be reached.") from None
    except anthropic.APIStatusError as exc:
        raise _unavailable(
            f"The language model service refused the request (HTTP {exc.status_code}).",
            status=exc.status_code,
        ) from None
    except anthropic.AnthropicError as exc:
        raise _unavailable(f"The language model call failed ({type(exc).__name__}).") from None

    text = "".join(
        getattr(block, "text", "") for block in response.content if block.type == "text"
    )
    usage = response.usage
    return LLMResult(
        text=text,
        model=response.model,
        input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        stop_reason=response.stop_reason,
    )


def _client(api_key: str, base_url: str | None, timeout: float) -> anthropic.Anthropic:
    """Reuse clients (connection pools, TLS contexts) across calls with the same settings."""
    key = (api_key, base_url, float(timeout))
    with _clients_lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client
        client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=MAX_RETRIES
        )
        _clients[key] = client
        while len(_clients) > _CLIENT_CACHE_SIZE:
            _clients.popitem(last=False)
        return client


def _unavailable(message: str, status: int | None = None) -> ServiceUnavailable:
    details = {"upstream_status": status} if status is not None else None
    return ServiceUnavailable(message, code="llm_unavailable", details=details)
