"""Issue 13 item 2 — corrections: the right answer to a bad reply becomes a Q&A pair
linked to the reply and its feedback, and the next time the question (or a near-identical
one) is asked, that answer is given (SPEC §11)."""
from __future__ import annotations

from tests.conversations.conftest import open_session, start_conversation
from tests.conversations.test_local_engine import italian_chat  # noqa: F401 - fixture

QUESTION = "Quanto costa la spedizione in Sardegna?"
RIGHT = "La spedizione in Sardegna costa 9,90 euro ed è gratuita sopra i 50 euro."


def _ask(tenant, conversation_id: str, question: str) -> dict:  # noqa: ANN001
    resp = tenant.post(f"/api/v1/conversations/{conversation_id}/messages",
                       json={"content": question})
    assert resp.status_code == 201, resp.json
    return resp.json


def _correct(tenant, conversation_id: str, message_id: str, **body) -> dict:  # noqa: ANN001, ANN003
    resp = tenant.post(f"/api/v1/conversations/{conversation_id}/messages/{message_id}"
                       "/corrections", json=body)
    assert resp.status_code == 201, resp.json
    return resp.json


def test_a_correction_answers_the_same_and_a_near_identical_question(
        tenant, italian_chat, run_jobs):  # noqa: F811
    _, conversation_id = italian_chat
    first = _ask(tenant, conversation_id, QUESTION)
    bad = first["reply"]
    assert RIGHT not in bad["content"]
    rated = tenant.post(f"/api/v1/conversations/{conversation_id}/feedback", json={
        "rating": 1, "comment": "Non risponde al costo", "message_id": bad["id"],
        "actor": {"type": "customer", "id": "u-1"}})
    assert rated.status_code == 201, rated.json

    made = _correct(tenant, conversation_id, bad["id"], answer=RIGHT)
    assert made["id"].startswith("kq_") and made["message_id"] == bad["id"]
    assert made["question"] == QUESTION  # the customer's message the reply answered
    assert made["answer"] == RIGHT and made["duplicate"] is False
    assert made["feedback_ids"] == [rated.json["id"]]
    run_jobs()
    source = tenant.get(f"/api/v1/knowledge/qas/{made['id']}").json
    assert source["status"] == "ready" and source["corrects_message_id"] == bad["id"]
    assert "correction" in source["tags"]

    for asked in (QUESTION, "quanto costa la spedizione in Sardegna"):
        reply = _ask(tenant, conversation_id, asked)["reply"]
        assert reply["content"] == RIGHT, (asked, reply)
        assert reply["answer_type"] == "qa_match" and reply["grounded"] is True
        assert reply["citations"][0]["source_id"] == made["id"]
    # A new conversation of another session gets it too.
    session = open_session(tenant, tenant.get("/api/v1/assistants/").json["items"][0]["id"])
    other = start_conversation(tenant, session["id"])["id"]
    assert _ask(tenant, other, QUESTION)["reply"]["content"] == RIGHT

    again = _correct(tenant, conversation_id, bad["id"], answer=RIGHT)
    assert again["id"] == made["id"] and again["duplicate"] is True  # one pair, not two


def test_the_question_can_be_rephrased_and_bad_targets_are_refused(
        tenant, other_tenant, italian_chat):  # noqa: F811
    _, conversation_id = italian_chat
    exchange = _ask(tenant, conversation_id, QUESTION)
    reply_id, question_id = exchange["reply"]["id"], exchange["message"]["id"]
    made = _correct(tenant, conversation_id, reply_id, answer=RIGHT,
                    question="Spedite in Sardegna, e a che prezzo?")
    assert made["question"] == "Spedite in Sardegna, e a che prezzo?"
    url = f"/api/v1/conversations/{conversation_id}/messages/{{}}/corrections"
    resp = tenant.post(url.format(question_id), json={"answer": RIGHT})
    assert resp.status_code == 422 and "message_id" in resp.json["error"]["details"]["fields"]
    resp = tenant.post(url.format("msg_nope"), json={"answer": RIGHT})
    assert resp.status_code == 404
    resp = other_tenant.post(url.format(reply_id), json={"answer": RIGHT})
    assert resp.status_code == 404  # another organization's conversation
    for body, field in (({"answer": ""}, "answer"), ({}, "answer"),
                        ({"answer": "x", "question": ""}, "question"),
                        ({"answer": "x", "tags": []}, "tags")):
        resp = tenant.post(url.format(reply_id), json=body)
        assert resp.status_code == 422 and field in resp.json["error"]["details"]["fields"], \
            (body, resp.json)
