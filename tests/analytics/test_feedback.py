"""`/analytics/feedback/`: ratings summary, per assistant and version, sources behind low
ratings, and the questions assistants could not answer."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.analytics.conftest import at

DIST = {"1": 1, "2": 1, "3": 1, "4": 1, "5": 2}


@pytest.fixture
def ratings(app, traffic):  # noqa: ANN001, ANN201
    """Org A: assistant one v1 rated 5, 4, 1 (sources s1, s2), v2 rated 2 (s1) and 5;
    assistant two rated 3. Org B: one rating of 1 (s9). Three unanswered questions in A,
    two of them the same question phrased differently."""
    from extensions import db
    from models.conversations import Conversation, Feedback, Message
    from models.orgs import Organization
    from models.sessions import Session
    from services.assistants import create_assistant

    with app.app_context():
        org_a = db.session.get(Organization, traffic.a.org_id)
        org_b = db.session.get(Organization, traffic.b.org_id)
        one = create_assistant(org_a, {"name": "One"}, actor=None).id
        two = create_assistant(org_a, {"name": "Two"}, actor=None).id
        three = create_assistant(org_b, {"name": "Three"}, actor=None).id

        def conversation(org_id: str, asst: str) -> str:
            sess = Session(org_id=org_id, assistant_id=asst, expires_at=at(23))
            db.session.add(sess)
            db.session.flush()
            conv = Conversation(org_id=org_id, session_id=sess.id, assistant_id=asst,
                                assistant_version=1)
            db.session.add(conv)
            db.session.flush()
            return conv.id

        def rate(org_id: str, asst: str, version: int, rating: int, sources: list[str],
                 minute: int) -> None:
            db.session.add(Feedback(
                org_id=org_id, conversation_id=conversation(org_id, asst), assistant_id=asst,
                assistant_version=version, rating=rating, actor_type="customer",
                actor={"type": "customer"}, source_ids=sources,
                created_at=at(10, minute), updated_at=at(10, minute)))

        rate(traffic.a.org_id, one, 1, 5, [], 1)
        rate(traffic.a.org_id, one, 1, 4, ["kf_s2"], 2)
        rate(traffic.a.org_id, one, 1, 1, ["kf_s1", "kf_s2"], 3)
        rate(traffic.a.org_id, one, 2, 2, ["kf_s1"], 4)
        rate(traffic.a.org_id, one, 2, 5, ["kf_s1"], 5)
        rate(traffic.a.org_id, two, 1, 3, [], 30)
        rate(traffic.b.org_id, three, 1, 1, ["kf_s9"], 6)

        def ask(org_id: str, asst: str, question: str, answer_type: str, minute: int) -> None:
            conv = conversation(org_id, asst)
            q = Message(org_id=org_id, conversation_id=conv, role="user", content=question,
                        created_at=at(10, minute))
            db.session.add(q)
            db.session.flush()
            db.session.add(Message(
                org_id=org_id, conversation_id=conv, role="assistant", reply_to_id=q.id,
                content="I don't know.", answer_type=answer_type, grounded=False,
                created_at=at(10, minute) + timedelta(seconds=1)))

        ask(traffic.a.org_id, one, "Where is my refund?", "no_answer", 10)
        ask(traffic.a.org_id, two, "where is my  REFUND", "no_answer", 20)
        ask(traffic.a.org_id, one, "Do you ship to Mars?", "no_answer", 15)
        ask(traffic.a.org_id, one, "What are your hours?", "extractive", 16)
        ask(traffic.b.org_id, three, "Secret question of B?", "no_answer", 17)
        db.session.commit()
    return {"one": one, "two": two, "three": three}


def test_feedback_summary_of_an_org(traffic, ratings):
    body = traffic.a.get("/analytics/feedback/").json
    assert (body["count"], body["mean"], body["distribution"]) == (6, 3.333, DIST)
    assert body["organization_id"] == traffic.a.org_id
    assert body["per_assistant"] == [
        {"assistant_id": ratings["one"], "name": "One", "count": 5, "mean": 3.4,
         "distribution": {"1": 1, "2": 1, "3": 0, "4": 1, "5": 2}},
        {"assistant_id": ratings["two"], "name": "Two", "count": 1, "mean": 3.0,
         "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 0}}]
    versions = {(v["assistant_id"], v["assistant_version"]): (v["count"], v["mean"])
                for v in body["per_version"]}
    assert versions == {(ratings["one"], 1): (3, 3.333), (ratings["one"], 2): (2, 3.5),
                        (ratings["two"], 1): (1, 3.0)}
    assert body["low_rated_sources"] == [
        {"source_id": "kf_s1", "title": None, "low_rated_answers": 2},
        {"source_id": "kf_s2", "title": None, "low_rated_answers": 1}]
    gaps = [(g["question"], g["count"]) for g in body["knowledge_gaps"]]
    assert gaps == [("where is my  REFUND", 2), ("Do you ship to Mars?", 1)]
    assert body["knowledge_gaps"][0]["last_asked_at"] == "2025-03-10T10:20:01Z"


def test_feedback_time_filter_and_platform_scope(traffic, ratings):
    early = traffic.a.get("/analytics/feedback/", query_string={
        "until": "2025-03-10T10:04:00Z"}).json
    assert (early["count"], early["distribution"]["1"]) == (3, 1)
    assert early["knowledge_gaps"] == []
    everyone = traffic.platform("/analytics/feedback/").json
    assert everyone["count"] == 7 and everyone["distribution"]["1"] == 2
    assert len(everyone["knowledge_gaps"]) == 3
    only_b = traffic.platform("/analytics/feedback/", query_string={
        "organization_id": traffic.b.org_id}).json
    assert only_b["count"] == 1
    assert only_b["low_rated_sources"] == [
        {"source_id": "kf_s9", "title": None, "low_rated_answers": 1}]
    b_own = traffic.b.get("/analytics/feedback/").json
    assert [g["question"] for g in b_own["knowledge_gaps"]] == ["Secret question of B?"]


def test_feedback_of_an_org_without_ratings_is_zeros(app):
    from tests.factories import make_tenant

    lonely = make_tenant(app, "Quiet")
    body = lonely.get("/analytics/feedback/").json
    assert body["count"] == 0 and body["mean"] is None
    assert body["distribution"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}
    assert body["per_assistant"] == body["knowledge_gaps"] == []
