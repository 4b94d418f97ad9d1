"""Read-outs the console's dashboard and assistant pages show about other areas:
knowledge sources, conversations, ratings. Plain queries scoped to one organization
(sources per status come from services.knowledge.sources.counts_by_status)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from extensions import db
from models.conversations import Conversation, Feedback
from models.knowledge import KnowledgeSource
from models.orgs import Organization


@dataclass(frozen=True)
class SourceOption:
    """A knowledge source as the scope picker shows it."""

    id: str
    kind: str
    title: str
    status: str


def knowledge_sources(org: Organization) -> list[SourceOption]:
    """Every source of the organization, newest first."""
    stmt = (KnowledgeSource.query_for_org(org)
            .order_by(KnowledgeSource.created_at.desc(), KnowledgeSource.id.desc()))
    return [SourceOption(id=row.id, kind=row.kind,
                         title=row.title or row.question or row.url or row.id,
                         status=row.status)
            for row in db.session.execute(stmt).scalars()]


def conversations_since(org: Organization, since: datetime) -> int:
    """Conversations started since `since`."""
    stmt = select(func.count()).select_from(Conversation).where(
        Conversation.org_id == org.id, Conversation.created_at >= since)
    return int(db.session.execute(stmt).scalar_one())


def rating_summary(org: Organization) -> tuple[float, int]:
    """(mean rating, count) of all feedback."""
    mean, count = db.session.execute(
        select(func.avg(Feedback.rating), func.count()).where(Feedback.org_id == org.id)
    ).one()
    return (float(mean) if mean is not None else 0.0, int(count))
