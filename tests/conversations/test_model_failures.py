"""Issue 11 item 6 — the generative path, robust: a model error falls back to the local
engine and says why (or, in fail mode, is a 502 `llm_error` naming the cause — never a bare
503); a reply cut by max_tokens is continued or marked truncated; the model call holds no
database connection. Anthropic is faked at the HTTP wire only."""
from __future__ import annotations

import json

import httpx
import httpx2
import pytest

from models.conversations import Message
from tests.conversations.conftest import Hit, count, exchange, fixed_hits

MESSAGES_URL = "https://api.anthropic.com/v1/messages"
SHIPPING = Hit(source_id="kf_manual", kind="file", title="Manual", chunk_id="chk_ship",
               text="Our company was founded in 1990. Orders ship from Milan every weekday. "
                    "Express shipping to Europe takes two days.", score=0.62)
QUESTION = "How long does express shipping to Europe take?"


def _error(status: int, error_type: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, json={
        "type": "error", "error": {"type": error_type, "message": "upstream says no"}})


def _reply(response_json: dict, *, text: str, stop_reason: str,
           output_tokens: int = 57) -> httpx.Response:
    body = {**response_json, "content": [{"type": "text", "text": text}],
            "stop_reason": stop_reason,
            "usage": {"input_tokens": 412, "output_tokens": output_tokens}}
    return httpx.Response(200, json=body)


def _stored(app, reply_id: str) -> Message:  # noqa: ANN001
    from extensions import db

    with app.app_context():
        return db.session.get(Message, reply_id)


@pytest.fixture
def model_on(app, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setitem(app.config, "ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setitem(app.config, "LLM_FAILURE_MODE", "fallback")


@pytest.mark.parametrize(("upstream", "cause"), [
    (_error(404, "not_found_error"), "model_not_found"),  # a bad model name
    (_error(401, "authentication_error"), "authentication"),  # a bad key
    (_error(400, "invalid_request_error"), "bad_request"),  # any other 4xx
    (_error(529, "overloaded_error", **{"retry-after-ms": "1"}), "overloaded"),
    (httpx2.ReadTimeout("too slow"), "timeout"),
])
def test_a_model_error_is_answered_by_the_local_engine_which_says_why(
        app, tenant, conversation, anthropic_http, model_on, upstream, cause):
    route = anthropic_http.post(MESSAGES_URL).mock(
        **({"side_effect": upstream} if isinstance(upstream, Exception)
           else {"return_value": upstream}))
    _, reply_id = exchange(app, tenant.org_id, conversation["id"], QUESTION,
                           retrieve=fixed_hits(SHIPPING))
    assert route.called
    reply = tenant.get(f"/api/v1/conversations/{conversation['id']}/messages").json["items"][1]
    assert reply["id"] == reply_id
    assert reply["model"] == "local-extractive"  # says which engine answered ...
    assert reply["fallback_reason"] == cause  # ... and why
    assert reply["answer_type"] == "extractive" and reply["grounded"] is True
    assert "Express shipping to Europe takes two days." in reply["content"]
    assert reply["status"] == "complete"


def test_over_the_api_a_model_error_is_a_201_from_the_local_engine_not_a_503(
        tenant, conversation, anthropic_http, model_on):
    anthropic_http.post(MESSAGES_URL).mock(return_value=_error(404, "not_found_error"))
    resp = tenant.post(f"/api/v1/conversations/{conversation['id']}/messages",
                       json={"content": "Do you ship to Norway?"})
    assert resp.status_code == 201, resp.json
    reply = resp.json["reply"]
    assert (reply["model"], reply["fallback_reason"]) == ("local-extractive",
                                                          "model_not_found")
    assert reply["answer_type"] == "no_answer"  # the knowledge base is empty


def test_fail_mode_answers_502_llm_error_naming_the_cause_and_stores_nothing(
        app, tenant, conversation, anthropic_http, monkeypatch):
    monkeypatch.setitem(app.config, "ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setitem(app.config, "LLM_FAILURE_MODE", "fail")
    anthropic_http.post(MESSAGES_URL).mock(return_value=_error(404, "not_found_error"))
    resp = tenant.post(f"/api/v1/conversations/{conversation['id']}/messages",
                       json={"content": "Can I return an item?"})
    assert resp.status_code == 502, resp.json
    error = resp.json["error"]
    assert error["code"] == "llm_error"
    assert error["details"] == {"cause": "model_not_found", "model": "claude-sonnet-4-5",
                                "upstream_status": 404}
    assert '"claude-sonnet-4-5"' in error["message"]
    assert "Traceback" not in resp.get_data(as_text=True)
    assert count(app, Message) == 0
    assert tenant.get(f"/api/v1/conversations/{conversation['id']}").json[
        "message_count"] == 0


def test_fail_mode_names_a_timeout(app, tenant, conversation, anthropic_http, monkeypatch):
    monkeypatch.setitem(app.config, "ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setitem(app.config, "LLM_FAILURE_MODE", "fail")
    anthropic_http.post(MESSAGES_URL).mock(side_effect=httpx2.ReadTimeout("too slow"))
    resp = tenant.post(f"/api/v1/conversations/{conversation['id']}/messages",
                       json={"content": "Can I return an item?"})
    assert resp.status_code == 502
    assert resp.json["error"]["details"]["cause"] == "timeout"


def test_a_reply_cut_by_max_tokens_is_continued_and_stored_whole(
        app, tenant, conversation, anthropic_http, anthropic_messages_response, model_on):
    base = anthropic_messages_response("", model="claude-sonnet-4-5")
    route = anthropic_http.post(MESSAGES_URL).mock(side_effect=[
        _reply(base, text="Express shipping to Europe takes ", stop_reason="max_tokens",
               output_tokens=1024),
        _reply(base, text=" two days [1].", stop_reason="end_turn", output_tokens=6),
    ])
    _, reply_id = exchange(app, tenant.org_id, conversation["id"], QUESTION,
                           retrieve=fixed_hits(SHIPPING))
    reply = _stored(app, reply_id)
    assert reply.content == "Express shipping to Europe takes two days [1]."
    assert (reply.status, reply.status_reason) == ("complete", None)
    assert reply.output_tokens == 1030 and reply.input_tokens == 824
    assert [c["chunk_id"] for c in reply.citations] == ["chk_ship"]
    first, second = (json.loads(call.request.content) for call in route.calls)
    # the continuation sends the text so far as the start of the assistant's turn
    assert second["messages"][:-1] == first["messages"]
    assert second["messages"][-1] == {"role": "assistant",
                                      "content": "Express shipping to Europe takes"}


def test_a_reply_still_cut_after_its_continuations_is_marked_truncated(
        app, tenant, conversation, anthropic_http, anthropic_messages_response, model_on,
        monkeypatch):
    monkeypatch.setitem(app.config, "LLM_MAX_CONTINUATIONS", 1)
    base = anthropic_messages_response("", model="claude-sonnet-4-5")
    route = anthropic_http.post(MESSAGES_URL).mock(side_effect=[
        _reply(base, text="Orders ship from Milan", stop_reason="max_tokens"),
        _reply(base, text=" every weekday and", stop_reason="max_tokens"),
    ])
    _, reply_id = exchange(app, tenant.org_id, conversation["id"], QUESTION,
                           retrieve=fixed_hits(SHIPPING))
    assert route.call_count == 2
    reply = tenant.get(f"/api/v1/conversations/{conversation['id']}/messages").json["items"][1]
    assert reply["id"] == reply_id
    assert reply["content"] == "Orders ship from Milan every weekday and"
    assert (reply["status"], reply["status_reason"]) == ("truncated", "max_tokens")


def test_a_continuation_the_model_refuses_leaves_the_reply_marked_truncated(
        app, tenant, conversation, anthropic_http, anthropic_messages_response, model_on):
    base = anthropic_messages_response("", model="claude-sonnet-4-5")
    anthropic_http.post(MESSAGES_URL).mock(side_effect=[
        _reply(base, text="Orders ship from Milan", stop_reason="max_tokens"),
        _error(400, "invalid_request_error"),  # e.g. a model that takes no prefill
    ])
    _, reply_id = exchange(app, tenant.org_id, conversation["id"], QUESTION,
                           retrieve=fixed_hits(SHIPPING))
    reply = _stored(app, reply_id)
    assert reply.content == "Orders ship from Milan"
    assert (reply.status, reply.status_reason) == ("truncated", "max_tokens")
    assert reply.model == "claude-sonnet-4-5" and reply.fallback_reason is None


def test_the_model_call_holds_no_database_connection(
        app, tenant, conversation, anthropic_http, anthropic_messages_response, model_on):
    from extensions import db

    with app.app_context():
        pool = db.engine.pool
    seen: list[int] = []

    def model(request: httpx.Request) -> httpx.Response:
        seen.append(pool.checkedout())
        return httpx.Response(200, json=anthropic_messages_response("Yes."))

    anthropic_http.post(MESSAGES_URL).mock(side_effect=model)
    resp = tenant.post(f"/api/v1/conversations/{conversation['id']}/messages",
                       json={"content": "Do you ship to Norway?"})
    assert resp.status_code == 201, resp.json
    assert seen == [0]  # released before the call (not merely rolled back) ...
    assert resp.json["reply"]["content"] == "Yes."  # ... and re-acquired to store
    assert count(app, Message) == 2


def test_the_console_transcript_shows_a_fallback_and_a_truncated_reply(
        app, anthropic_http, anthropic_messages_response, model_on, monkeypatch):
    from tests.console.conftest import make_console_org
    from tests.conversations.conftest import open_session, start_conversation

    corg = make_console_org(app, "Console")
    assistant = corg.tenant.post("/api/v1/assistants/", json={"name": "Support"}).json
    conv = start_conversation(corg.tenant, open_session(corg.tenant, assistant["id"])["id"])
    monkeypatch.setitem(app.config, "LLM_MAX_CONTINUATIONS", 0)
    base = anthropic_messages_response("", model="claude-sonnet-4-5")
    anthropic_http.post(MESSAGES_URL).mock(side_effect=[
        _error(401, "authentication_error"),
        _reply(base, text="Orders ship from", stop_reason="max_tokens"),
    ])
    for question in ("Do you ship to Norway?", "Where do orders ship from?"):
        resp = corg.tenant.post(f"/api/v1/conversations/{conv['id']}/messages",
                                json={"content": question})
        assert resp.status_code == 201, resp.json
    html = corg["viewer"].client.get(f"/console/conversations/{conv['id']}").text
    assert "fallback: authentication" in html
    assert 'title="max_tokens">truncated</span>' in html
