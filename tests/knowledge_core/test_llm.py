"""The Anthropic wrapper, with only the HTTP wire faked: replies, and failures as
LLMError (502 `llm_error`) naming their cause, retried only inside the time budget."""
from __future__ import annotations

import json

import httpx
import pytest

from errors import ServiceUnavailable
from services import llm
from services.llm import LLMError

MESSAGES_URL = "https://api.anthropic.com/v1/messages"


def test_complete_sends_model_system_messages_and_parses_the_reply(
    anthropic_http, anthropic_messages_response
):
    route = anthropic_http.post(MESSAGES_URL).mock(
        return_value=httpx.Response(200, json=anthropic_messages_response("Bonjour!"))
    )
    result = llm.complete(
        api_key="sk-ant-test-1",
        model="claude-haiku-4-5",
        system="You are terse.",
        messages=[{"role": "user", "content": "Say hello in French."}],
        max_tokens=50,
    )
    assert result == llm.LLMResult(
        text="Bonjour!", model="claude-haiku-4-5", input_tokens=412, output_tokens=57,
        stop_reason="end_turn",
    )
    request = route.calls.last.request
    body = json.loads(request.content)
    assert body["model"] == "claude-haiku-4-5"
    assert body["system"] == "You are terse."
    assert body["messages"] == [{"role": "user", "content": "Say hello in French."}]
    assert body["max_tokens"] == 50
    # The SDK decides the auth header (x-api-key or a bearer token); the key must be on it.
    sent = request.headers.get("x-api-key") or request.headers.get("authorization", "")
    assert sent.endswith("sk-ant-test-1")


def test_custom_base_url_is_used(anthropic_http, anthropic_messages_response):
    route = anthropic_http.post("https://llm-gateway.example.com/v1/messages").mock(
        return_value=httpx.Response(200, json=anthropic_messages_response("ok"))
    )
    result = llm.complete(api_key="k", model="m", system="s",
                          messages=[{"role": "user", "content": "hi"}],
                          base_url="https://llm-gateway.example.com")
    assert route.called and result.text == "ok"


def test_client_errors_are_llm_errors_naming_the_cause(anthropic_http):
    route = anthropic_http.post(MESSAGES_URL).mock(return_value=httpx.Response(
        401, json={"type": "error",
                   "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
    ))
    with pytest.raises(LLMError) as caught:
        llm.complete(api_key="bad", model="m", system="s",
                     messages=[{"role": "user", "content": "hi"}])
    assert route.call_count == 1  # a refused key is not retried
    assert caught.value.code == "llm_error"
    assert caught.value.status == 502
    assert "401" in caught.value.message
    assert caught.value.details == {"cause": "authentication", "model": "m",
                                    "upstream_status": 401}
    assert isinstance(caught.value, ServiceUnavailable)  # enrichment still falls back


def test_an_unknown_model_is_model_not_found(anthropic_http):
    anthropic_http.post(MESSAGES_URL).mock(return_value=httpx.Response(
        404, json={"type": "error",
                   "error": {"type": "not_found_error", "message": "model: claude-nope"}}))
    with pytest.raises(LLMError) as caught:
        llm.complete(api_key="k1", model="claude-nope", system="s",
                     messages=[{"role": "user", "content": "hi"}])
    assert caught.value.cause == "model_not_found"
    assert '"claude-nope"' in caught.value.message


def test_overload_is_retried_twice_then_reported(anthropic_http):
    route = anthropic_http.post(MESSAGES_URL).mock(return_value=httpx.Response(
        529, headers={"retry-after-ms": "1"},
        json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ))
    with pytest.raises(LLMError) as caught:
        llm.complete(api_key="k2", model="m", system="s",
                     messages=[{"role": "user", "content": "hi"}])
    assert route.call_count == 1 + llm.MAX_RETRIES
    assert caught.value.cause == "overloaded"


def test_retries_stop_when_the_time_budget_would_run_out(anthropic_http):
    route = anthropic_http.post(MESSAGES_URL).mock(return_value=httpx.Response(
        529, headers={"retry-after": "30"},
        json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ))
    with pytest.raises(LLMError) as caught:
        llm.complete(api_key="k5", model="m", system="s",
                     messages=[{"role": "user", "content": "hi"}], timeout=5)
    assert route.call_count == 1  # waiting 30 s would outlast the 5 s budget
    assert caught.value.cause == "overloaded"


def test_connection_failure_is_reported(anthropic_http):
    anthropic_http.post(MESSAGES_URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(LLMError) as caught:
        llm.complete(api_key="k3", model="m", system="s",
                     messages=[{"role": "user", "content": "hi"}], timeout=1)
    assert caught.value.cause == "connection"
    assert "could not be reached" in caught.value.message


def test_timeout_is_reported(anthropic_http):
    import httpx2

    anthropic_http.post(MESSAGES_URL).mock(side_effect=httpx2.ReadTimeout("too slow"))
    with pytest.raises(LLMError) as caught:
        llm.complete(api_key="k4", model="m", system="s",
                     messages=[{"role": "user", "content": "hi"}], timeout=1)
    assert caught.value.code == "llm_error"
    assert caught.value.cause == "timeout"
    assert "in time" in caught.value.message
