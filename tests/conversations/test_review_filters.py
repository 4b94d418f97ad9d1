"""Issue 13 item 4 — conversation review: filters on rating, answer type, grounded, text,
end user and channel, in the list and the export, each inside the caller's organization."""
from __future__ import annotations

import json

import pytest


def _conversation(tenant, assistant_id: str, *, channel: str, external_id: str,  # noqa: ANN001
                  question: str, rating: int) -> str:
    session = tenant.post("/api/v1/sessions/", json={
        "assistant_id": assistant_id, "channel": channel,
        "user": {"external_id": external_id}}).json
    conv = tenant.post("/api/v1/conversations/", json={"session_id": session["id"]}).json
    sent = tenant.post(f"/api/v1/conversations/{conv['id']}/messages",
                       json={"content": question})
    assert sent.status_code == 201, sent.json
    assert tenant.post(f"/api/v1/conversations/{conv['id']}/feedback", json={
        "rating": rating, "message_id": sent.json["reply"]["id"],
        "actor": {"type": "customer"}}).status_code == 201
    return conv["id"]


@pytest.fixture
def two_conversations(tenant, assistant, run_jobs) -> dict[str, str]:  # noqa: ANN001
    """unhappy: an "I don't know" on WhatsApp rated 1; happy: a Q&A match on the web
    rated 5."""
    resp = tenant.post("/api/v1/knowledge/qas/", json={
        "question": "What are your opening hours?",
        "answer": "We are open Monday to Friday, 9:00 to 18:00."})
    assert resp.status_code in (201, 202), resp.json
    run_jobs()
    return {
        "unhappy": _conversation(tenant, assistant["id"], channel="whatsapp",
                                 external_id="crm-1", question="Dove siete a Milano?",
                                 rating=1),
        "happy": _conversation(tenant, assistant["id"], channel="web", external_id="crm-2",
                               question="What are your opening hours?", rating=5),
    }


def _ids(tenant, query: str) -> set[str]:  # noqa: ANN001
    resp = tenant.get(f"/api/v1/conversations/?{query}")
    assert resp.status_code == 200, resp.json
    return {c["id"] for c in resp.json["items"]}


@pytest.mark.parametrize(("query", "expected"), [
    ("rating_max=2", {"unhappy"}),
    ("rating_max=5", {"unhappy", "happy"}),
    ("answer_type=no_answer", {"unhappy"}),
    ("answer_type=qa_match", {"happy"}),
    ("grounded=true", {"happy"}),
    ("grounded=false", {"unhappy"}),
    ("q=OPENING%20hours", {"happy"}),
    ("q=dove", {"unhappy"}),
    ("q=100%25", set()),  # a literal %, not a wildcard
    ("q=_", set()),
    ("external_id=crm-2", {"happy"}),
    ("channel=whatsapp", {"unhappy"}),
    ("rating_max=2&channel=web", set()),
    ("answer_type=no_answer&external_id=crm-1&grounded=false", {"unhappy"}),
])
def test_each_filter_narrows_the_list(tenant, two_conversations, query, expected):
    assert _ids(tenant, query) == {two_conversations[name] for name in expected}


def test_the_export_takes_the_same_filters(tenant, two_conversations):
    resp = tenant.get("/api/v1/conversations/export?rating_max=2&format=jsonl")
    assert resp.status_code == 200
    lines = [json.loads(line) for line in resp.text.splitlines() if line.strip()]
    assert [line["id"] for line in lines] == [two_conversations["unhappy"]]


def test_filters_stay_inside_the_organization(tenant, other_tenant, two_conversations,
                                              run_jobs):
    other = other_tenant.post("/api/v1/assistants/", json={"name": "Theirs"}).json
    theirs = _conversation(other_tenant, other["id"], channel="whatsapp", external_id="crm-1",
                           question="Dove siete a Milano?", rating=1)
    for query in ("rating_max=2", "channel=whatsapp", "external_id=crm-1",
                  "answer_type=no_answer", "q=dove", "grounded=false"):
        assert _ids(other_tenant, query) == {theirs}, query
        assert _ids(tenant, query) == {two_conversations["unhappy"]}, query


@pytest.mark.parametrize("query", ["rating_max=0", "rating_max=6", "answer_type=maybe",
                                   "grounded=perhaps", "q=", "channel=" + "x" * 65])
def test_bad_filters_are_422(tenant, query):
    resp = tenant.get(f"/api/v1/conversations/?{query}")
    assert resp.status_code == 422, resp.json
    assert resp.json["error"]["code"] == "validation_error"
