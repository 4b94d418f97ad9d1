"""Conversations and messages (SPEC §6): lifecycle gates, transcripts, bad input."""
from __future__ import annotations

from models.conversations import Conversation, Message
from tests.conversations.conftest import (
    count,
    exchange,
    expire_now,
    open_session,
    start_conversation,
)


def test_conversation_defaults_to_the_sessions_assistant_and_pins_its_version(
        tenant, assistant, session):
    aid = assistant["id"]
    tenant.patch(f"/api/v1/assistants/{aid}", json={"tone": "formal", "promote": True})
    conv = start_conversation(tenant, session["id"], metadata={"topic": "billing"})
    assert conv["id"].startswith("conv_")
    assert (conv["assistant_id"], conv["assistant_version"]) == (aid, 2)
    assert conv["metadata"] == {"topic": "billing"} and conv["message_count"] == 0
    tenant.post(f"/api/v1/assistants/{aid}/versions/1/promote")
    assert tenant.get(f"/api/v1/conversations/{conv['id']}").json["assistant_version"] == 2


def test_list_filters(app, tenant, assistant):
    other = tenant.post("/api/v1/assistants/", json={"name": "Sales"}).json
    s1 = open_session(tenant, assistant["id"])
    s2 = open_session(tenant, assistant["id"])
    a = start_conversation(tenant, s1["id"])
    b = start_conversation(tenant, s2["id"])
    c = start_conversation(tenant, s2["id"], assistant_id=other["id"])
    ids = lambda q: [x["id"] for x in tenant.get(f"/api/v1/conversations/?{q}").json["items"]]  # noqa: E731
    assert ids("") == [c["id"], b["id"], a["id"]]  # newest first
    assert ids(f"session_id={s2['id']}") == [c["id"], b["id"]]
    assert ids(f"assistant_id={other['id']}") == [c["id"]]
    assert ids(f"since={b['created_at']}") == [c["id"], b["id"]]
    assert ids(f"until={b['created_at']}") == [a["id"]]
    assert ids(f"since={a['created_at']}&until={c['created_at']}") == [b["id"], a["id"]]
    assert tenant.get("/api/v1/conversations/?since=yesterday").status_code == 422


def test_messages_list_oldest_first_with_cursor(app, tenant, conversation):
    stored = []
    for text in ("first question", "second question", "third question"):
        stored.extend(exchange(app, tenant.org_id, conversation["id"], text))
    url = f"/api/v1/conversations/{conversation['id']}/messages"
    page1 = tenant.get(f"{url}?limit=4").json
    assert [m["id"] for m in page1["items"]] == stored[:4]
    assert [m["role"] for m in page1["items"]] == ["user", "assistant"] * 2
    assert page1["next_cursor"]
    page2 = tenant.get(f"{url}?limit=4&cursor={page1['next_cursor']}").json
    assert [m["id"] for m in page2["items"]] == stored[4:]
    assert page2["next_cursor"] is None
    reply = page1["items"][1]
    assert reply["reply_to_id"] == page1["items"][0]["id"]
    assert reply["citations"] == [] and reply["model"] == "local-extractive"
    assert tenant.get(f"/api/v1/conversations/{conversation['id']}").json["message_count"] == 6


def test_expired_session_refuses_new_work_but_history_stays_readable(
        app, tenant, session, conversation):
    exchange(app, tenant.org_id, conversation["id"], "hello")
    tenant.patch(f"/api/v1/sessions/{session['id']}", json={"ttl_seconds": 60})
    expire_now(app, session["id"])
    resp = tenant.post(f"/api/v1/conversations/{conversation['id']}/messages",
                       json={"content": "still there?"})
    assert resp.status_code == 410 and resp.json["error"]["code"] == "session_expired"
    resp = tenant.post("/api/v1/conversations/", json={"session_id": session["id"]})
    assert resp.status_code == 410 and resp.json["error"]["code"] == "session_expired"
    assert count(app, Message) == 2 and count(app, Conversation) == 1
    assert tenant.get(f"/api/v1/conversations/{conversation['id']}").status_code == 200
    msgs = tenant.get(f"/api/v1/conversations/{conversation['id']}/messages").json["items"]
    assert [m["content"] for m in msgs][0] == "hello"


def test_ended_session_refuses_new_conversations(app, tenant, session):
    tenant.delete(f"/api/v1/sessions/{session['id']}")
    resp = tenant.post("/api/v1/conversations/", json={"session_id": session["id"]})
    assert resp.status_code == 410 and resp.json["error"]["code"] == "session_expired"
    assert count(app, Conversation) == 0


def test_paused_assistant_refuses_with_409(app, tenant, assistant, session, conversation):
    tenant.patch(f"/api/v1/assistants/{assistant['id']}", json={"is_active": False})
    resp = tenant.post(f"/api/v1/conversations/{conversation['id']}/messages",
                       json={"content": "hello?"})
    assert resp.status_code == 409 and resp.json["error"]["code"] == "assistant_inactive"
    resp = tenant.post("/api/v1/conversations/", json={"session_id": session["id"]})
    assert resp.status_code == 409 and resp.json["error"]["code"] == "assistant_inactive"
    assert count(app, Message) == 0 and count(app, Conversation) == 1
    assert tenant.get(f"/api/v1/conversations/{conversation['id']}/messages").status_code == 200


def test_conversation_stays_readable_after_the_assistant_is_deleted(
        app, tenant, assistant, conversation):
    exchange(app, tenant.org_id, conversation["id"], "hello")
    assert tenant.delete(f"/api/v1/assistants/{assistant['id']}").status_code == 204
    got = tenant.get(f"/api/v1/conversations/{conversation['id']}")
    assert got.status_code == 200 and got.json["assistant_id"] == assistant["id"]
    assert len(tenant.get(
        f"/api/v1/conversations/{conversation['id']}/messages").json["items"]) == 2
    resp = tenant.post(f"/api/v1/conversations/{conversation['id']}/messages",
                       json={"content": "anyone?"})
    assert resp.status_code == 409


def test_bad_input_is_4xx_and_stores_nothing(app, tenant, assistant, conversation):
    url = f"/api/v1/conversations/{conversation['id']}/messages"
    cases = [
        ({"content": "x" * 8001}, 422),
        ({"content": ""}, 422),
        ({"content": "   "}, 422),
        ({"content": "null byte \x00 here"}, 422),
        ({"content": "hi", "role": "assistant"}, 422),
        ({}, 422),
        ({"content": 42}, 422),
    ]
    for body, status in cases:
        resp = tenant.post(url, json=body)
        assert resp.status_code == status, (body, resp.json)
        assert "content" in resp.json["error"]["details"]["fields"] or \
            "role" in resp.json["error"]["details"]["fields"]
    assert tenant.post(url, data="{broken", headers={"Content-Type": "application/json"}
                       ).json["error"]["code"] == "invalid_json"
    resp = tenant.post("/api/v1/conversations/", json={"session_id": "sess_unknown"})
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
    resp = tenant.post("/api/v1/conversations/",
                       json={"session_id": conversation["session_id"], "extra": True})
    assert resp.status_code == 422
    resp = tenant.post("/api/v1/conversations/", json={
        "session_id": conversation["session_id"], "assistant_id": "asst_unknown"})
    assert resp.status_code == 404
    resp = tenant.post("/api/v1/conversations/conv_unknown/messages", json={"content": "hi"})
    assert resp.status_code == 404
    assert count(app, Message) == 0 and count(app, Conversation) == 1
