"""Per-organization retention (SPEC §12): request logs, conversations (with their messages
and feedback) and rate-limit events older than the organization's days are deleted in
bounded batches; hourly rollups and audit events are kept.

Runs from a schedule: the in-process scheduler in embedded mode (`maybe_run`, checked
before requests, runs on a background thread), a self-renewing RQ job on the workers'
scheduler in services mode, and `flask --app wsgi retention run` for cron. Each run
records, per organization, when it ran and what it deleted (the console shows both).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import delete, or_, select

from errors import ValidationFailed
from extensions import db
from models.audit import RateLimitEvent, RequestLog
from models.conversations import Conversation, Feedback, Message
from models.orgs import Organization
from models.types import isoformat, utcnow
from services import idempotency
from services.analytics.rollups import roll_up, watermark
from services.jobs import get_queues, get_redis

log = logging.getLogger("companin.retention")
POLICY_FIELDS = {"request_logs": "retention_request_logs_days",
                 "conversations": "retention_conversations_days",
                 "rate_limit_events": "retention_rate_limit_events_days"}
MAX_DAYS = 3650
RQ_JOB_PREFIX = "companin-retention"


def policy(org: Organization) -> dict[str, int | None]:
    return {kind: getattr(org, column) for kind, column in POLICY_FIELDS.items()}


def set_policy(org: Organization, changes: dict[str, int | None]) -> Organization:
    """Days per kind (None: keep for ever); the change is audited with the organization."""
    errors: dict[str, list[str]] = {}
    for kind, days in changes.items():
        if kind not in POLICY_FIELDS:
            errors[kind] = [f"Unknown kind; choose from {', '.join(POLICY_FIELDS)}."]
        elif days is not None and not (isinstance(days, int) and 1 <= days <= MAX_DAYS):
            errors[kind] = [f"Give a whole number of days from 1 to {MAX_DAYS}, or keep."]
    if errors:
        raise ValidationFailed(errors)
    for kind, days in changes.items():
        setattr(org, POLICY_FIELDS[kind], days)
    db.session.commit()
    return org


def delete_in_batches(select_ids: Any, *deletes: Any, batch: int) -> int:
    """Delete in batches of `batch` ids (each `deletes` maker gets the ids and returns a
    statement), one commit each, until none is left; returns how many ids went."""
    total = 0
    while True:
        ids = list(db.session.execute(select_ids.limit(batch)).scalars())
        if not ids:
            return total
        for make in deletes:
            db.session.execute(make(ids))
        db.session.commit()
        total += len(ids)


def enforce(org: Organization, now: datetime | None = None, batch: int = 1000
            ) -> dict[str, Any]:
    """Apply one organization's policy; returns what was deleted, recorded on the org."""
    now = now or utcnow()
    days = policy(org)
    deleted = {"request_logs": 0, "conversations": 0, "messages": 0, "feedback": 0,
               "rate_limit_events": 0}

    def older(model: Any, cutoff: datetime) -> int:
        return delete_in_batches(
            select(model.id).where(model.org_id == org.id, model.created_at < cutoff),
            lambda ids: delete(model).where(model.id.in_(ids)), batch=batch)

    if days["request_logs"]:
        cutoff = now - timedelta(days=days["request_logs"])
        mark = watermark()  # an hour not rolled up yet keeps its raw rows
        if mark is not None:
            deleted["request_logs"] = older(RequestLog, min(cutoff, mark))
    if days["rate_limit_events"]:
        deleted["rate_limit_events"] = older(
            RateLimitEvent, now - timedelta(days=days["rate_limit_events"]))
    if days["conversations"]:
        cutoff = now - timedelta(days=days["conversations"])
        counts: dict[str, int] = {"messages": 0, "feedback": 0}

        def _children(ids: list[str]) -> Any:
            counts["feedback"] += db.session.execute(
                delete(Feedback).where(Feedback.conversation_id.in_(ids))).rowcount
            counts["messages"] += db.session.execute(
                delete(Message).where(Message.conversation_id.in_(ids))).rowcount
            return delete(Conversation).where(Conversation.id.in_(ids))

        # Quiet since the cutoff: created before it, and no message after it.
        deleted["conversations"] = delete_in_batches(
            select(Conversation.id).where(
                Conversation.org_id == org.id, Conversation.created_at < cutoff,
                or_(Conversation.last_message_at.is_(None),
                    Conversation.last_message_at < cutoff)),
            _children, batch=max(1, batch // 10))
        deleted.update(counts)
    org.retention_last_run_at = now
    org.retention_last_result = {"deleted": deleted, "policy": days,
                                 "ran_at": isoformat(now)}
    db.session.commit()
    return deleted


def run(now: datetime | None = None, org_id: str | None = None, batch: int = 1000
        ) -> dict[str, dict[str, int]]:
    """Enforce every organization with a policy (or just `org_id`); rolls up first so no
    request-log hour is deleted before it is in the rollups."""
    now = now or utcnow()
    roll_up(now)
    stmt = select(Organization).where(
        Organization.id == org_id if org_id is not None else or_(*(
            getattr(Organization, column).is_not(None) for column in POLICY_FIELDS.values())))
    results = {}
    for org in list(db.session.execute(stmt).scalars()):
        results[org.id] = enforce(org, now, batch)
    idempotency.purge(now)  # answers kept for retries live a day, whatever the policy
    return results


# ------------------------------------------------------------------------- schedules
_lock = threading.Lock()


def maybe_run() -> None:
    """Embedded mode (before requests): every RETENTION_INTERVAL_SECONDS of a process's
    life, run retention on a background thread; the request does not wait for it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["JOBS_MODE"] != "thread" or not app.config["RETENTION_INTERVAL_SECONDS"]:
        return
    now = time.monotonic()
    # The clock starts at the process's first request: the first run is one interval in.
    state = app.extensions.setdefault("companin_retention", {"at": now})
    with _lock:
        if now - state["at"] < app.config["RETENTION_INTERVAL_SECONDS"]:
            return
        state["at"] = now
    threading.Thread(target=_run_in_app, args=(app,), daemon=True,
                     name="retention").start()


def _run_in_app(app: Flask) -> None:
    try:
        with app.app_context():
            run()
    except Exception:  # noqa: BLE001 - the next interval tries again
        log.exception("retention run failed")


def schedule_rq(app: Flask, delay: float = 60) -> bool:
    """Services mode: put the next retention run on the RQ scheduler unless one is there
    (a worker calls this when it starts; each run schedules the next). False when one
    was already scheduled."""
    interval = int(app.config["RETENTION_INTERVAL_SECONDS"])
    if not interval:
        return False
    redis = get_redis(app)
    job_id = f"{RQ_JOB_PREFIX}-{uuid.uuid4().hex[:12]}"
    if not redis.set(_marker(app), job_id, nx=True, ex=int(delay) + interval + 600):
        return False
    get_queues(app)[0].enqueue_in(timedelta(seconds=delay),
                                  "jobs.retention_tasks.run_retention", job_id=job_id)
    return True


def run_scheduled(app: Flask) -> None:
    """The RQ job: run, then schedule the next run one interval later."""
    try:
        run()
    finally:
        get_redis(app).delete(_marker(app))
        schedule_rq(app, delay=app.config["RETENTION_INTERVAL_SECONDS"])


def _marker(app: Flask) -> str:
    """The Redis key that says a retention run is scheduled (one per deployment)."""
    return f"{app.config['RQ_QUEUE']}:retention:scheduled"
