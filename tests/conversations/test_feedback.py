"""Feedback (SPEC §6): ratings tied to the version and sources they judge."""
from __future__ import annotations

from models.conversations import Feedback
from tests.conversations.conftest import (
    Hit,
    count,
    exchange,
    expire_now,
    fixed_hits,
    start_conversation,
)

MANUAL = Hit(source_id="kf_manual", kind="file", title="Manual", chunk_id="chk_1",
             text="The warranty lasts two years.", score=0.7)


def test_rating_a_reply_records_version_and_cited_sources(app, tenant, assistant,
                                                           conversation):
    question_id, reply_id = exchange(app, tenant.org_id, conversation["id"],
                                     "How long is the warranty?", retrieve=fixed_hits(MANUAL))
    url = f"/api/v1/conversations/{conversation['id']}/feedback"
    resp = tenant.post(url, json={"rating": 2, "comment": "Too vague", "message_id": reply_id,
                                  "actor": {"type": "agent", "id": "ag-7", "name": "Bo",
                                            "team": "tier-2"}})
    assert resp.status_code == 201, resp.json
    fb = resp.json
    assert fb["id"].startswith("fb_")
    assert (fb["assistant_id"], fb["assistant_version"]) == (assistant["id"], 1)
    assert fb["source_ids"] == ["kf_manual"]
    assert fb["actor"] == {"type": "agent", "id": "ag-7", "name": "Bo", "team": "tier-2"}
    # rating the question judges the reply it got
    on_question = tenant.post(url, json={"rating": 5, "message_id": question_id,
                                         "actor": {"type": "customer"}}).json
    assert on_question["source_ids"] == ["kf_manual"]
    whole = tenant.post(url, json={"rating": 4, "actor": {"type": "system"}}).json
    assert whole["message_id"] is None and whole["source_ids"] == []
    listed = tenant.get(url).json["items"]
    assert [f["id"] for f in listed] == [whole["id"], on_question["id"], fb["id"]]


def test_reply_version_wins_over_the_conversations(app, tenant, assistant, conversation):
    tenant.patch(f"/api/v1/assistants/{assistant['id']}",
                 json={"tone": "formal", "promote": True})
    _, reply_id = exchange(app, tenant.org_id, conversation["id"], "hi")
    fb = tenant.post(f"/api/v1/conversations/{conversation['id']}/feedback",
                     json={"rating": 3, "message_id": reply_id,
                           "actor": {"type": "customer"}}).json
    assert conversation["assistant_version"] == 1 and fb["assistant_version"] == 2


def test_invalid_feedback_stores_nothing(app, tenant, session, conversation):
    other_conv = start_conversation(tenant, session["id"])
    _, foreign_msg = exchange(app, tenant.org_id, other_conv["id"], "elsewhere")
    url = f"/api/v1/conversations/{conversation['id']}/feedback"
    actor = {"type": "customer"}
    cases = [
        ({"rating": 0, "actor": actor}, "rating"),
        ({"rating": 6, "actor": actor}, "rating"),
        ({"rating": "5", "actor": actor}, "rating"),
        ({"rating": 4.5, "actor": actor}, "rating"),
        ({"rating": 3}, "actor"),
        ({"rating": 3, "actor": {"type": "robot"}}, "actor.type"),
        ({"rating": 3, "actor": actor, "comment": "x" * 4001}, "comment"),
        ({"rating": 3, "actor": actor, "message_id": foreign_msg}, "message_id"),
        ({"rating": 3, "actor": actor, "message_id": "msg_nope"}, "message_id"),
        ({"rating": 3, "actor": actor, "stars": 3}, "stars"),
    ]
    for body, field in cases:
        resp = tenant.post(url, json=body)
        assert resp.status_code == 422, (body, resp.json)
        assert field in resp.json["error"]["details"]["fields"], (body, resp.json)
    assert tenant.post("/api/v1/conversations/conv_nope/feedback",
                       json={"rating": 3, "actor": actor}).status_code == 404
    assert count(app, Feedback) == 0


def test_feedback_is_allowed_after_the_session_expired(app, tenant, session, conversation):
    expire_now(app, session["id"])
    resp = tenant.post(f"/api/v1/conversations/{conversation['id']}/feedback",
                       json={"rating": 1, "actor": {"type": "customer"}})
    assert resp.status_code == 201
    assert count(app, Feedback) == 1
