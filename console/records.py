"""Look-ups the sessions and conversations pages share: names for ids, per-page counts
and ratings, and the date-range filter. All in one query per page, all org-filtered.

These are read-only projections for display; every rule (what is active, what a
conversation may contain) stays in services/.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from extensions import db
from models.assistants import Assistant
from models.conversations import Conversation, Feedback, Message
from models.orgs import Organization
from models.sessions import Session


@dataclass
class AssistantName:
    name: str
    deleted: bool


def assistant_names(org: Organization) -> dict[str, AssistantName]:
    """Every assistant of the org, deleted ones included: history outlives them."""
    rows = db.session.execute(select(Assistant.id, Assistant.name, Assistant.deleted_at)
                              .where(Assistant.org_id == org.id).order_by(Assistant.name))
    return {i: AssistantName(n, d is not None) for i, n, d in rows}


def channels(org: Organization) -> list[str]:
    """The channels this org's sessions came from (the filter's choices)."""
    rows = db.session.execute(select(Session.channel).where(
        Session.org_id == org.id, Session.channel.is_not(None)).distinct().order_by(
        Session.channel)).scalars()
    return [c for c in rows if c]


def conversation_counts(org: Organization, session_ids: list[str]) -> dict[str, int]:
    if not session_ids:
        return {}
    rows = db.session.execute(
        select(Conversation.session_id, func.count()).where(
            Conversation.org_id == org.id, Conversation.session_id.in_(session_ids))
        .group_by(Conversation.session_id))
    return {sid: int(n) for sid, n in rows}


def ratings(org: Organization, conversation_ids: list[str]) -> dict[str, tuple[float, int]]:
    """conversation id → (mean rating, number of ratings)."""
    if not conversation_ids:
        return {}
    rows = db.session.execute(
        select(Feedback.conversation_id, func.avg(Feedback.rating), func.count())
        .where(Feedback.org_id == org.id, Feedback.conversation_id.in_(conversation_ids))
        .group_by(Feedback.conversation_id))
    return {cid: (float(mean), int(n)) for cid, mean, n in rows}


def first_questions(org: Organization, conversation_ids: list[str]) -> dict[str, str]:
    """conversation id → its opening customer message (the list's preview line)."""
    if not conversation_ids:
        return {}
    first = (select(Message.conversation_id, func.min(Message.created_at).label("at"))
             .where(Message.org_id == org.id, Message.role == "user",
                    Message.conversation_id.in_(conversation_ids))
             .group_by(Message.conversation_id).subquery())
    rows = db.session.execute(
        select(Message.conversation_id, Message.content).join(
            first, (first.c.conversation_id == Message.conversation_id)
            & (first.c.at == Message.created_at))
        .where(Message.org_id == org.id, Message.role == "user"))
    return {cid: content for cid, content in rows}


@dataclass
class DateRange:
    since: date | None
    until: date | None  # inclusive day
    error: str | None = None

    @property
    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """[since 00:00 UTC, the day after `until` 00:00 UTC)."""
        start = datetime.combine(self.since, time.min, tzinfo=UTC) if self.since else None
        end = (datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC)
               if self.until else None)
        return start, end


def parse_range(args: Any) -> DateRange:
    """Bad dates are ignored with a message shown by the filter bar, never a 500."""
    try:
        since = date.fromisoformat(args["since"]) if args.get("since") else None
        until = date.fromisoformat(args["until"]) if args.get("until") else None
    except ValueError:
        return DateRange(None, None, "Dates must look like 2025-03-10; showing all dates.")
    if since and until and since > until:
        since, until = until, since
    return DateRange(since, until)


def clean_text(value: str | None, limit: int = 255) -> str | None:
    """A free-text filter value, stripped; empty means "no filter"."""
    value = (value or "").strip()
    return value[:limit] or None
