"""Retention (SPEC §12 item 4), on both databases: only what is past the organization's
date goes, in batches; rollups, audit events and other organizations stay; the run is
recorded; the CLI sets the policy (the console: tests/console/test_settings.py)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from tests.conversations.conftest import exchange, open_session, start_conversation
from tests.factories import make_tenant

DAY = timedelta(days=1)


def _age_conversation(app, conversation_id: str, days: int) -> None:  # noqa: ANN001
    """Move a conversation, its messages and feedback `days` into the past."""
    from extensions import db
    from models.conversations import Conversation, Feedback, Message
    from models.types import utcnow

    then = utcnow() - days * DAY
    with app.app_context():
        db.session.execute(update(Conversation).where(Conversation.id == conversation_id)
                           .values(created_at=then, last_message_at=then, updated_at=then))
        db.session.execute(update(Message).where(Message.conversation_id == conversation_id)
                           .values(created_at=then))
        db.session.execute(update(Feedback).where(Feedback.conversation_id == conversation_id)
                           .values(created_at=then))
        db.session.commit()


def _logs_and_refusals(app, org_id: str, key_id: str) -> None:  # noqa: ANN001
    """Three request-log rows and one refusal 40 days old, and the same today."""
    from extensions import db
    from models.audit import RateLimitEvent, RequestLog
    from models.types import utcnow

    now = utcnow()
    with app.app_context():
        for when in (now - 40 * DAY, now - 2 * timedelta(hours=1)):
            for n in range(3):
                db.session.add(RequestLog(org_id=org_id, api_key_id=key_id, method="GET",
                                          route="/api/v1/assistants/", path="/api/v1/assistants/",
                                          status=200, latency_ms=3.0 + n, request_id=f"req_{n}",
                                          created_at=when + n * timedelta(seconds=1)))
            db.session.add(RateLimitEvent(org_id=org_id, api_key_id=key_id, method="GET",
                                          path="/x", limit="1 per 1 hour", created_at=when))
        db.session.commit()


def _counts(app, org_id: str) -> dict[str, int]:  # noqa: ANN001
    from extensions import db
    from models.analytics import RequestRollup
    from models.audit import AuditEvent, RateLimitEvent, RequestLog
    from models.conversations import Conversation, Feedback, Message

    with app.app_context():
        return {model.__tablename__: db.session.execute(
            select(func.count()).select_from(model).where(model.org_id == org_id)).scalar_one()
            for model in (RequestLog, RateLimitEvent, Conversation, Message, Feedback,
                          RequestRollup, AuditEvent)}


def _story(app, tenant) -> dict[str, str]:  # noqa: ANN001
    bot = tenant.post("/api/v1/assistants/", json={"name": "Bot"}).json
    sess = open_session(tenant, bot["id"])
    old = start_conversation(tenant, sess["id"])["id"]
    _q, old_reply = exchange(app, tenant.org_id, old, "Do you ship to Malta?")
    tenant.post(f"/api/v1/conversations/{old}/feedback",
                json={"rating": 1, "message_id": old_reply, "actor": {"type": "customer"}})
    fix = tenant.post(f"/api/v1/conversations/{old}/messages/{old_reply}/corrections",
                      json={"answer": "Yes, in four days."})
    assert fix.status_code == 201, fix.json
    new = start_conversation(tenant, sess["id"])["id"]
    exchange(app, tenant.org_id, new, "Do you ship to Gozo?")
    _age_conversation(app, old, 40)
    _logs_and_refusals(app, tenant.org_id, tenant.key_id)
    return {"old": old, "new": new, "correction": fix.json["id"]}


def test_only_records_past_the_organizations_dates_are_deleted(app, tenant):
    from extensions import db
    from models.knowledge import KnowledgeSource
    from models.orgs import Organization
    from services import retention

    ids = _story(app, tenant)
    other = make_tenant(app, "Other")
    _story(app, other)
    before, other_before = _counts(app, tenant.org_id), _counts(app, other.org_id)
    with app.app_context():
        org = db.session.get(Organization, tenant.org_id)
        retention.set_policy(org, {"request_logs": 30, "conversations": 30,
                                   "rate_limit_events": 30})
        result = retention.run(batch=2)  # batches of 2: several rounds each

    after = _counts(app, tenant.org_id)
    assert result[tenant.org_id] == {"request_logs": 3, "conversations": 1, "messages": 2,
                                     "feedback": 1, "rate_limit_events": 1}
    assert other.org_id not in result  # no policy: nothing of it is touched
    assert after["request_logs"] == before["request_logs"] - 3
    assert after["rate_limit_events"] == before["rate_limit_events"] - 1
    assert after["conversations"] == before["conversations"] - 1
    assert after["messages"] == before["messages"] - 2
    assert after["feedback"] == before["feedback"] - 1
    assert after["request_rollups"] >= 1  # the deleted hour is still in the rollups
    assert after["audit_events"] > before["audit_events"]  # kept, and the policy change added
    other_after = _counts(app, other.org_id)
    other_after.pop("request_rollups"), other_before.pop("request_rollups")  # rolled up: all
    assert other_after == other_before
    assert tenant.get(f"/api/v1/conversations/{ids['old']}").status_code == 404
    assert tenant.get(f"/api/v1/conversations/{ids['new']}").status_code == 200
    with app.app_context():
        correction = db.session.get(KnowledgeSource, ids["correction"])
        assert correction is not None and correction.corrects_message_id is None
        org = db.session.get(Organization, tenant.org_id)
        assert org.retention_last_run_at is not None
        assert org.retention_last_result["deleted"]["conversations"] == 1
        assert retention.run() == {tenant.org_id: {  # a second run finds nothing more
            "request_logs": 0, "conversations": 0, "messages": 0, "feedback": 0,
            "rate_limit_events": 0}}


def test_a_policy_is_checked_and_the_cli_sets_and_runs_it(app, tenant):
    from extensions import db
    from models.orgs import Organization

    _story(app, tenant)
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["org", "set-retention", tenant.org_id, "--conversations", "0"])
    assert bad.exit_code == 1 and "conversations" in bad.output
    ok = runner.invoke(args=["org", "set-retention", tenant.org_id, "--conversations", "30",
                             "--request-logs", "keep"])
    assert ok.exit_code == 0, ok.output
    assert '"conversations": 30' in ok.output and '"request_logs": null' in ok.output
    ran = runner.invoke(args=["retention", "run", "--org", tenant.org_id])
    assert ran.exit_code == 0, ran.output
    assert '"conversations": 1' in ran.output and '"request_logs": 0' in ran.output
    with app.app_context():
        org = db.session.get(Organization, tenant.org_id)
        assert org.retention_request_logs_days is None
        assert org.retention_conversations_days == 30
    events = tenant.get("/api/v1/audit-events?entity_type=organization&actor_type=system")
    assert any(e["changes"].get("retention_conversations_days") == [None, 30]
               for e in events.json["items"])


def test_embedded_mode_runs_retention_on_its_schedule(app, tenant, monkeypatch):
    """The in-process scheduler: the first request starts the clock, the first request one
    interval later starts a run on a background thread."""
    import time

    from extensions import db
    from models.orgs import Organization
    from services import retention

    _story(app, tenant)
    with app.app_context():
        retention.set_policy(db.session.get(Organization, tenant.org_id), {"conversations": 30})
    monkeypatch.setitem(app.config, "JOBS_MODE", "thread")
    monkeypatch.setitem(app.config, "RETENTION_INTERVAL_SECONDS", 1)
    monkeypatch.delitem(app.extensions, "companin_retention", raising=False)
    assert tenant.get("/api/v1/assistants/").status_code == 200  # starts the clock
    time.sleep(1.1)
    assert tenant.get("/api/v1/assistants/").status_code == 200  # due: runs in the background
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with app.app_context():
            org = db.session.get(Organization, tenant.org_id)
            if org.retention_last_run_at is not None:
                break
        time.sleep(0.1)
    assert org.retention_last_run_at is not None
    assert org.retention_last_result["deleted"]["conversations"] == 1
    monkeypatch.delitem(app.extensions, "companin_retention", raising=False)


def test_services_mode_keeps_one_retention_run_on_the_rq_scheduler(app):
    import pytest

    if app.config["JOBS_MODE"] != "rq":
        pytest.skip("services mode only (TEST_DATABASE_URL + TEST_REDIS_URL)")
    from rq.registry import ScheduledJobRegistry

    from services import retention
    from services.jobs import get_queues

    with app.app_context():
        assert retention.schedule_rq(app) is True
        assert retention.schedule_rq(app) is False  # another worker starting: still one
        queue = get_queues(app)[0]
        scheduled = ScheduledJobRegistry(queue=queue).get_job_ids()
        assert len([j for j in scheduled if j.startswith(retention.RQ_JOB_PREFIX)]) == 1
        retention.run_scheduled(app)  # what the job does: run, then schedule the next
        after = ScheduledJobRegistry(queue=queue).get_job_ids()
        assert len([j for j in after if j.startswith(retention.RQ_JOB_PREFIX)]) == 2
