"""`Idempotency-Key` on every keyed POST (SPEC §12 hardening): a retry after a dropped
connection returns the first answer and stores nothing new; another body with the same key
is refused; keys are per organization; a 5xx does not hold the key."""
from __future__ import annotations

import io

from sqlalchemy import func, select

from tests.conversations.conftest import open_session, start_conversation
from tests.factories import make_tenant


def _count(app, model, org_id: str) -> int:  # noqa: ANN001
    from extensions import db

    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)
                                  .where(model.org_id == org_id)).scalar_one()


def test_a_retried_create_returns_the_first_answer_and_creates_nothing(app, tenant):
    from models.assistants import Assistant

    headers = {"Idempotency-Key": "b9a1c7f4-create-assistant"}
    first = tenant.post("/api/v1/assistants/", json={"name": "Bot"}, headers=headers)
    again = tenant.post("/api/v1/assistants/", json={"name": "Bot"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _count(app, Assistant, tenant.org_id) == 1

    other_body = tenant.post("/api/v1/assistants/", json={"name": "Other"}, headers=headers)
    assert other_body.status_code == 422
    assert other_body.json["error"]["code"] == "idempotency_key_reused"
    assert _count(app, Assistant, tenant.org_id) == 1
    # the same key in another organization is another key
    other = make_tenant(app, "Other")
    theirs = other.post("/api/v1/assistants/", json={"name": "Bot"}, headers=headers)
    assert theirs.status_code == 201 and theirs.json["id"] != first.json["id"]
    # without the header, a POST is not idempotent (two assistants)
    tenant.post("/api/v1/assistants/", json={"name": "Bot"})
    assert _count(app, Assistant, tenant.org_id) == 2


def test_a_retried_message_feedback_and_upload_store_nothing_new(app, tenant, run_jobs):
    from models.conversations import Feedback, Message
    from models.knowledge import KnowledgeSource

    bot = tenant.post("/api/v1/assistants/", json={"name": "Bot"}).json
    conv = start_conversation(tenant, open_session(tenant, bot["id"])["id"])["id"]
    sent = [tenant.post(f"/api/v1/conversations/{conv}/messages",
                        json={"content": "Do you ship to Malta?"},
                        headers={"Idempotency-Key": "msg-1"}) for _ in range(3)]
    assert {s.status_code for s in sent} == {201}
    assert len({s.json["reply"]["id"] for s in sent}) == 1
    assert _count(app, Message, tenant.org_id) == 2  # one question, one reply

    rated = [tenant.post(f"/api/v1/conversations/{conv}/feedback",
                         json={"rating": 4, "actor": {"type": "customer"}},
                         headers={"Idempotency-Key": "fb-1"}) for _ in range(2)]
    assert rated[0].json == rated[1].json
    assert _count(app, Feedback, tenant.org_id) == 1

    def upload():  # noqa: ANN202
        return tenant.post("/api/v1/knowledge/files/",
                           data={"file": (io.BytesIO(b"Parking is free for two hours."),
                                          "parking.txt")},
                           content_type="multipart/form-data",
                           headers={"Idempotency-Key": "upload-1"})

    first, again = upload(), upload()
    assert first.status_code == again.status_code == 202
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert _count(app, KnowledgeSource, tenant.org_id) == 1
    changed = tenant.post("/api/v1/knowledge/files/",
                          data={"file": (io.BytesIO(b"Another file."), "parking.txt")},
                          content_type="multipart/form-data",
                          headers={"Idempotency-Key": "upload-1"})
    assert changed.status_code == 422
    assert changed.json["error"]["code"] == "idempotency_key_reused"


def test_an_error_answer_is_replayed_and_a_bad_key_is_refused(app, tenant):
    bad = tenant.post("/api/v1/assistants/", json={"name": ""},
                      headers={"Idempotency-Key": "bad-body"})
    assert bad.status_code == 422
    again = tenant.post("/api/v1/assistants/", json={"name": ""},
                        headers={"Idempotency-Key": "bad-body"})
    assert again.status_code == 422 and again.json == bad.json
    assert again.headers["Idempotent-Replayed"] == "true"
    too_long = tenant.post("/api/v1/assistants/", json={"name": "Bot"},
                           headers={"Idempotency-Key": "k" * 256})
    assert too_long.status_code == 422
    assert "Idempotency-Key" in too_long.json["error"]["details"]["fields"]


def test_a_key_still_in_progress_is_409_and_expired_records_are_purged(app, tenant):
    from datetime import timedelta

    import pytest

    from errors import Conflict
    from extensions import db
    from models.audit import IdempotencyRecord
    from models.types import utcnow
    from services import idempotency

    with app.app_context():
        assert idempotency.claim(tenant.org_id, "busy", "f" * 64) is None  # the first holds it
        with pytest.raises(Conflict) as held:
            idempotency.claim(tenant.org_id, "busy", "f" * 64)  # its retry, meanwhile
        assert held.value.code == "idempotency_key_in_use" and held.value.status == 409
        row = db.session.get(IdempotencyRecord, (tenant.org_id, "busy"))
        row.created_at = utcnow() - timedelta(hours=25)
        db.session.commit()
        assert idempotency.purge() >= 1
        assert db.session.get(IdempotencyRecord, (tenant.org_id, "busy")) is None
        assert idempotency.claim(tenant.org_id, "busy", "g" * 64) is None  # free again
