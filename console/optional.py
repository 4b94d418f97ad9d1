"""Read-outs from areas that land after the console (knowledge, conversations, feedback).

Each function returns None while its module does not exist, and real numbers once it does;
the templates show a "not set up yet" card for None. Every import is guarded the same way
(`_model("models.knowledge", "KnowledgeSource")`) so the console never breaks the app
while another area is still missing.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

from sqlalchemy import func, select

from extensions import db
from models.orgs import Organization


@dataclass(frozen=True)
class SourceOption:
    """A knowledge source as the scope picker shows it."""

    id: str
    kind: str
    title: str
    status: str


def _module(name: str) -> ModuleType | None:
    """The module, or None when it does not exist (an error inside it still raises)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            return None
        raise


def _model(module_name: str, class_name: str) -> Any | None:
    module = _module(module_name)
    return getattr(module, class_name, None) if module is not None else None


def knowledge_sources(org: Organization) -> list[SourceOption] | None:
    """Every source of the organization, newest first; None before knowledge exists."""
    source = _model("models.knowledge", "KnowledgeSource")
    if source is None:
        return None
    stmt = source.query_for_org(org).order_by(source.created_at.desc(), source.id.desc())
    return [SourceOption(id=row.id, kind=row.kind,
                         title=row.title or row.question or row.url or row.id,
                         status=row.status)
            for row in db.session.execute(stmt).scalars()]


def knowledge_counts(org: Organization) -> dict[str, int] | None:
    """Sources per status ({"ready": 3, "failed": 1, ...}); None before knowledge exists."""
    source = _model("models.knowledge", "KnowledgeSource")
    if source is None:
        return None
    stmt = (select(source.status, func.count()).where(source.org_id == org.id)
            .group_by(source.status))
    return {str(status): int(n) for status, n in db.session.execute(stmt)}


def conversations_since(org: Organization, since: datetime) -> int | None:
    """Conversations started since `since`; None before conversations exist."""
    conversation = _model("models.conversations", "Conversation")
    if conversation is None:
        return None
    stmt = select(func.count()).select_from(conversation).where(
        conversation.org_id == org.id, conversation.created_at >= since)
    return int(db.session.execute(stmt).scalar_one())


def rating_summary(org: Organization) -> tuple[float, int] | None:
    """(mean rating, count) of all feedback; None before feedback exists."""
    feedback = _model("models.conversations", "Feedback")
    if feedback is None:
        return None
    mean, count = db.session.execute(
        select(func.avg(feedback.rating), func.count()).where(feedback.org_id == org.id)
    ).one()
    return (float(mean) if mean is not None else 0.0, int(count))


def _scope_setter() -> Any | None:
    module = _module("services.knowledge.scope")
    return getattr(module, "set_scope", None) if module is not None else None


def has_scope_service() -> bool:
    return _scope_setter() is not None


def save_knowledge_scope(org: Organization, assistant_id: str, *, mode: str,
                         linked: list[str], excluded: list[str]) -> Any:
    """Through the knowledge area's scope service when it exists (it checks that the
    source ids are this organization's); before that, straight to services.assistants."""
    setter = _scope_setter()
    if setter is None:
        from services.assistants import set_knowledge_scope as setter
    return setter(org, assistant_id, mode=mode, linked=linked, excluded=excluded)
