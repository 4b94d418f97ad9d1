"""Session contexts (SPEC §5): attributes the assistant sees when it answers.

A closed (expired or ended) session's contexts are frozen: they explain the answers given
in it, so creating or changing them afterwards is refused with 410 `session_expired`.
Reading stays possible.
"""
from __future__ import annotations

from typing import Any

from extensions import db
from models.orgs import Organization
from models.sessions import Context, Session
from models.types import utcnow
from services.pagination import Page, paginate
from services.sessions import check_attributes, merge_attributes, require_active


def create_context(org: Organization, session_id: str, attributes: dict[str, Any]) -> Context:
    session = Session.get_for_org(session_id, org)
    attributes = check_attributes({k: v for k, v in attributes.items() if v is not None},
                                  "attributes")
    require_active(session)
    context = Context(org_id=org.id, session_id=session.id, attributes=attributes)
    db.session.add(context)
    db.session.commit()
    return context


def get_context(org: Organization | str, context_id: str) -> Context:
    return Context.get_for_org(context_id, org)


def list_contexts(org: Organization, *, limit: int | None, cursor: str | None,
                  session_id: str | None = None) -> Page:
    stmt = Context.query_for_org(org)
    if session_id is not None:
        stmt = stmt.where(Context.session_id == session_id)
    return paginate(stmt, Context, limit=limit, cursor=cursor)


def update_context(org: Organization, context_id: str, changes: dict[str, Any]) -> Context:
    """Merge: a null value deletes the key, anything else sets it."""
    context = Context.get_for_org(context_id, org, for_update=True)
    merged = merge_attributes(context.attributes or {}, changes, "attributes")
    require_active(Session.get_for_org(context.session_id, org))
    context.attributes = merged
    context.updated_at = utcnow()
    db.session.commit()
    return context


def session_attributes(org: Organization | str, session_id: str) -> dict[str, Any]:
    """All of a session's contexts merged; the most recently written wins a key."""
    rows = db.session.execute(
        Context.query_for_org(org).where(Context.session_id == session_id)
        .order_by(Context.updated_at.asc(), Context.id.asc())
    ).scalars()
    merged: dict[str, Any] = {}
    for row in rows:
        merged.update(row.attributes or {})
    return merged
