"""Issue 11 item 6 — answers streamed as Server-Sent Events (SPEC §6): `delta` events, then
one `done` with the stored exchange, for both engines; failures before the first delta are
JSON errors, later ones an `error` event; a reply cut by max_tokens is continued or marked
truncated. Anthropic's streaming API is faked at the HTTP wire only (respx)."""
from __future__ import annotations

import io
import json

import pytest

from models.conversations import Message
from tests.conversations.conftest import (
    MANUAL,
    anthropic_sse_events,
    anthropic_stream_error,
    count,
    read_sse,
    sse_response,
)

MESSAGES_URL = "https://api.anthropic.com/v1/messages"
SSE = {"Accept": "text/event-stream"}


def _ask(tenant, conversation, content: str, **kw):  # noqa: ANN001, ANN003, ANN202
    return tenant.post(f"/api/v1/conversations/{conversation['id']}/messages",
                       json={"content": content}, **kw)


def _stream(tenant, conversation, content: str, **kw) -> list[tuple[str, dict]]:  # noqa: ANN001, ANN003
    resp = _ask(tenant, conversation, content, headers=SSE, **kw)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.mimetype == "text/event-stream"
    return read_sse(resp.get_data())


def _transcript(tenant, conversation) -> list[dict]:  # noqa: ANN001
    return tenant.get(f"/api/v1/conversations/{conversation['id']}/messages").json["items"]


def _check_order_and_storage(tenant, conversation, events) -> dict:  # noqa: ANN001
    """delta+ then exactly one done; the streamed text is the stored reply."""
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and kinds.count("done") == 1
    assert set(kinds[:-1]) == {"delta"} and len(kinds) >= 2
    done = events[-1][1]
    streamed = "".join(data["text"] for kind, data in events if kind == "delta")
    assert streamed == done["reply"]["content"]
    question, reply = _transcript(tenant, conversation)
    assert question == done["message"] and reply == done["reply"]
    assert reply["reply_to_id"] == question["id"] and reply["status"] == "complete"
    return reply


@pytest.fixture
def model_on(app, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setitem(app.config, "ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setitem(app.config, "LLM_FAILURE_MODE", "fallback")


def test_the_local_engine_streams_sentences_then_the_stored_reply(
        app, tenant, conversation, run_jobs):
    resp = tenant.post("/api/v1/knowledge/files/", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(MANUAL), "manual.txt"),
                             "title": "Bike manual"})
    assert resp.status_code == 202, resp.json
    run_jobs()
    resp = _ask(tenant, conversation, "How long is the warranty on electrical parts?",
                headers=SSE)
    assert resp.status_code == 201
    # keyed like any call: limited, logged, identified
    assert resp.headers["X-RateLimit-Limit"] and resp.headers["X-Request-ID"]
    assert resp.headers["Cache-Control"] == "no-cache"
    events = read_sse(resp.get_data())
    reply = _check_order_and_storage(tenant, conversation, events)
    assert reply["model"] == "local-extractive"
    assert reply["answer_type"] == "extractive" and reply["grounded"] is True
    assert "Electrical parts are covered for two years" in reply["content"]
    assert reply["citations"][0]["title"] == "Bike manual"
    assert sum(kind == "delta" for kind, _ in events) >= 2  # sentence by sentence
    logs = tenant.get("/analytics/logs/?method=POST").json["items"]
    assert any(row["path"].endswith("/messages") and row["status"] == 201 for row in logs)


def test_stream_true_in_the_query_streams_and_false_does_not(tenant, conversation):
    resp = _ask(tenant, conversation, "Anything about bikes?",
                query_string={"stream": "true"})
    assert resp.mimetype == "text/event-stream"
    _check_order_and_storage(tenant, conversation, read_sse(resp.get_data()))
    resp = _ask(tenant, conversation, "And now?", headers=SSE,
                query_string={"stream": "false"})
    assert resp.status_code == 201 and resp.is_json
    assert resp.json["reply"]["answer_type"] == "no_answer"


def test_the_anthropic_engine_streams_its_deltas_then_the_stored_reply(
        app, tenant, conversation, run_jobs, anthropic_http, model_on):
    from extensions import db

    resp = tenant.post("/api/v1/knowledge/qas/", json={
        "question": "What is the return policy?",
        "answer": "Returns are accepted within 30 days."})
    run_jobs()
    qa_id = resp.json["id"]
    with app.app_context():
        pool = db.engine.pool
    held: list[int] = []

    def model(request):  # noqa: ANN001, ANN202
        held.append(pool.checkedout())
        return sse_response(anthropic_sse_events(
            "  Returns are", " accepted within ", "30 days [1].", "\n"))

    route = anthropic_http.post(MESSAGES_URL).mock(side_effect=model)
    events = _stream(tenant, conversation, "What is the return policy?")
    assert [data["text"] for kind, data in events if kind == "delta"] == [
        "Returns are", " accepted within", " 30 days [1]."]
    reply = _check_order_and_storage(tenant, conversation, events)
    assert reply["content"] == "Returns are accepted within 30 days [1]."
    assert reply["model"] == "claude-sonnet-4-5" and reply["answer_type"] == "generative"
    assert reply["grounded"] is True and reply["citations"][0]["source_id"] == qa_id
    assert (reply["input_tokens"], reply["output_tokens"]) == (412, 57)
    assert json.loads(route.calls.last.request.content)["stream"] is True
    assert held == [0]  # no database connection while the model works


def test_a_model_error_before_any_text_streams_the_local_answer_saying_why(
        tenant, conversation, anthropic_http, model_on):
    import httpx

    anthropic_http.post(MESSAGES_URL).mock(return_value=httpx.Response(
        401, json={"type": "error", "error": {"type": "authentication_error",
                                              "message": "invalid x-api-key"}}))
    events = _stream(tenant, conversation, "Do you ship to Norway?")
    reply = _check_order_and_storage(tenant, conversation, events)
    assert (reply["model"], reply["fallback_reason"]) == ("local-extractive",
                                                          "authentication")


def test_fail_mode_error_before_any_text_is_a_plain_json_502(
        app, tenant, conversation, anthropic_http, monkeypatch):
    import httpx

    monkeypatch.setitem(app.config, "ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setitem(app.config, "LLM_FAILURE_MODE", "fail")
    anthropic_http.post(MESSAGES_URL).mock(return_value=httpx.Response(
        404, json={"type": "error", "error": {"type": "not_found_error",
                                              "message": "model: claude-sonnet-4-5"}}))
    resp = _ask(tenant, conversation, "Do you ship to Norway?", headers=SSE)
    assert resp.status_code == 502 and resp.is_json
    assert resp.json["error"]["code"] == "llm_error"
    assert resp.json["error"]["details"]["cause"] == "model_not_found"
    assert count(app, Message) == 0


def test_fail_mode_model_failure_mid_reply_is_an_error_event_and_keeps_the_partial_reply(
        app, tenant, conversation, anthropic_http, monkeypatch):
    monkeypatch.setitem(app.config, "ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setitem(app.config, "LLM_FAILURE_MODE", "fail")
    upstream = anthropic_sse_events("Returns are accepted", " within")[:5]
    anthropic_http.post(MESSAGES_URL).mock(return_value=sse_response(
        [*upstream, anthropic_stream_error("overloaded_error")]))
    events = _stream(tenant, conversation, "What is the return policy?")
    assert [kind for kind, _ in events] == ["delta", "delta", "error"]
    error = events[-1][1]["error"]
    assert error["code"] == "llm_error" and error["details"]["cause"] == "overloaded"
    question, reply = _transcript(tenant, conversation)
    assert error["details"]["message_id"] == question["id"]
    assert error["details"]["reply_id"] == reply["id"]
    assert reply["content"] == "Returns are accepted within"
    assert (reply["status"], reply["status_reason"]) == ("incomplete", "llm_error:overloaded")


def test_fallback_mode_model_failure_mid_reply_ends_with_the_incomplete_reply(
        tenant, conversation, anthropic_http, model_on):
    upstream = anthropic_sse_events("Returns are accepted")[:4]
    anthropic_http.post(MESSAGES_URL).mock(return_value=sse_response(
        [*upstream, anthropic_stream_error("api_error")]))
    events = _stream(tenant, conversation, "What is the return policy?")
    assert [kind for kind, _ in events] == ["delta", "done"]
    reply = events[-1][1]["reply"]
    assert reply["content"] == "Returns are accepted"
    assert (reply["status"], reply["status_reason"]) == ("incomplete",
                                                         "llm_error:server_error")
    assert _transcript(tenant, conversation)[1] == reply


def test_a_streamed_reply_cut_by_max_tokens_is_continued(
        tenant, conversation, anthropic_http, model_on):
    route = anthropic_http.post(MESSAGES_URL).mock(side_effect=[
        sse_response(anthropic_sse_events("Orders ship from ", "Milan ",
                                          stop_reason="max_tokens")),
        sse_response(anthropic_sse_events(" every weekday.")),
    ])
    events = _stream(tenant, conversation, "Where do orders ship from?")
    reply = _check_order_and_storage(tenant, conversation, events)
    assert reply["content"] == "Orders ship from Milan every weekday."
    continuation = json.loads(route.calls[1].request.content)
    assert continuation["messages"][-1] == {"role": "assistant",
                                            "content": "Orders ship from Milan"}


def test_a_streamed_reply_still_cut_is_marked_truncated(
        app, tenant, conversation, anthropic_http, model_on, monkeypatch):
    monkeypatch.setitem(app.config, "LLM_MAX_CONTINUATIONS", 0)
    anthropic_http.post(MESSAGES_URL).mock(return_value=sse_response(anthropic_sse_events(
        "Orders ship from ", "Milan", stop_reason="max_tokens")))
    events = _stream(tenant, conversation, "Where do orders ship from?")
    done = events[-1][1]
    assert done["reply"]["content"] == "Orders ship from Milan"
    assert (done["reply"]["status"], done["reply"]["status_reason"]) == (
        "truncated", "max_tokens")
    assert _transcript(tenant, conversation)[1]["status"] == "truncated"


def test_errors_before_the_stream_are_ordinary_json_errors(tenant, conversation):
    resp = tenant.post(f"/api/v1/conversations/{conversation['id']}/messages",
                       json={"content": ""}, headers=SSE)
    assert resp.status_code == 422 and resp.is_json
    resp = tenant.post("/api/v1/conversations/conv_missing/messages",
                       json={"content": "hi"}, headers=SSE)
    assert resp.status_code == 404 and resp.is_json
    resp = tenant.post(f"/api/v1/conversations/{conversation['id']}/messages",
                       json={"content": "hi"}, query_string={"stream": "maybe"})
    assert resp.status_code == 422


def test_a_streamed_call_is_authenticated_and_rate_limited_like_any_call(app, client):
    from tests.conversations.conftest import open_session, start_conversation
    from tests.factories import make_tenant

    tenant = make_tenant(app, "Tight", rate_limit=4)
    assistant = tenant.post("/api/v1/assistants/", json={"name": "Support"}).json
    conversation = start_conversation(tenant, open_session(tenant, assistant["id"])["id"])
    url = f"/api/v1/conversations/{conversation['id']}/messages"
    resp = client.post(url, json={"content": "hi"}, headers=SSE)  # no key
    assert resp.status_code == 401 and resp.is_json
    resp = tenant.post(url, json={"content": "hi"}, headers=SSE)  # the 4th call of 4
    assert resp.status_code == 201 and resp.mimetype == "text/event-stream"
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    resp.get_data()
    resp = tenant.post(url, json={"content": "again"}, headers=SSE)
    assert resp.status_code == 429 and resp.json["error"]["code"] == "rate_limited"
    assert count(app, Message) == 2  # the refused call did not run
