"""The dashboard: what is running, what is being refused, how busy today was."""
from __future__ import annotations

from datetime import datetime, time, UTC

from flask import Blueprint, render_template
from sqlalchemy import func, select

from console.access import current_org, require_login
from extensions import db
from models.assistants import Assistant
from models.audit import RateLimitEvent, RequestLog
from models.base import scoped_count
from models.orgs import ApiKey
from models.types import utcnow
from services import overview
from services.knowledge.sources import counts_by_status

bp = require_login(Blueprint("console_dashboard", __name__, url_prefix="/console"))


def _today_start() -> datetime:
    return datetime.combine(utcnow().date(), time.min, tzinfo=UTC)


@bp.get("/")
def index() -> str:
    org = current_org()
    today = _today_start()
    active = scoped_count(Assistant, org, Assistant.is_active.is_(True),
                          Assistant.deleted_at.is_(None))
    paused = scoped_count(Assistant, org, Assistant.is_active.is_(False),
                          Assistant.deleted_at.is_(None))
    # RequestLog/RateLimitEvent are not OrgScoped (platform keys read across orgs), so the
    # organization filter is written out here.
    requests_today, errors_today = db.session.execute(
        select(func.count(), func.count().filter(RequestLog.status >= 400))
        .where(RequestLog.org_id == org.id, RequestLog.created_at >= today)
    ).one()
    events = list(db.session.execute(
        select(RateLimitEvent).where(RateLimitEvent.org_id == org.id)
        .order_by(RateLimitEvent.created_at.desc()).limit(10)
    ).scalars())
    key_names = dict(db.session.execute(
        select(ApiKey.id, ApiKey.name).where(ApiKey.org_id == org.id)).all())
    events_today = db.session.execute(
        select(func.count()).select_from(RateLimitEvent)
        .where(RateLimitEvent.org_id == org.id, RateLimitEvent.created_at >= today)
    ).scalar_one()
    rating = overview.rating_summary(org)
    return render_template(
        "dashboard.html",
        org=org, active=active, paused=paused, requests_today=int(requests_today),
        errors_today=int(errors_today), events=events, events_today=events_today,
        key_names=key_names,
        knowledge=counts_by_status(org),
        conversations_today=overview.conversations_since(org, today),
        rating=rating,
    )
