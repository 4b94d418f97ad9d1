"""Sessions and end users (SPEC §5): a session is the time box new conversations need.

Rules kept here:
- `user.external_id` upserts one EndUser per (organization, external_id), so the same
  person reaching us on the web and on WhatsApp is one end user with two sessions.
- TTL defaults to the organization's `session_ttl_seconds`; PATCH `ttl_seconds` extends
  from now, but only while the session is active: an expired or ended session is final.
- `metadata` merges on PATCH and a null value deletes a key; it may change at any time.
- Session state is computed from `ended_at`/`expires_at`, so it is correct even if the
  `flask sessions expire` cron has not run yet; the cron only stamps `ended_at`.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from errors import Gone, ValidationFailed
from extensions import db
from models.assistants import Assistant
from models.orgs import Organization
from models.sessions import EndUser, Session
from models.types import isoformat, utcnow
from services.assistants import require_serving
from services.pagination import Page, paginate

MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 30 * 86400
MAX_ATTRIBUTE_KEYS = 50
MAX_KEY_LENGTH = 64
MAX_ATTRIBUTES_BYTES = 16 * 1024
MAX_NESTED_ITEMS = 50
MAX_NESTING_DEPTH = 2
USER_FIELDS = ("external_id", "name", "email")


def check_attributes(value: Any, field: str) -> dict[str, Any]:
    """Caps for free-form attribute maps (context attributes, metadata, user attributes):
    they end up in prompts and exports, so they must stay small and plain JSON."""
    if not isinstance(value, dict):
        raise ValidationFailed({field: ["Must be a JSON object."]})
    problems: list[str] = []
    if len(value) > MAX_ATTRIBUTE_KEYS:
        problems.append(f"At most {MAX_ATTRIBUTE_KEYS} keys.")
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            problems.append(f"Key {str(key)[:80]!r} must be 1 to {MAX_KEY_LENGTH} characters.")
        elif not _plain_json(item, 0):
            problems.append(f"Value of {key!r} must be a JSON scalar or a small list/object "
                            f"(≤ {MAX_NESTED_ITEMS} items, ≤ {MAX_NESTING_DEPTH} levels).")
    if not problems:
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_ATTRIBUTES_BYTES:
            problems.append(f"Serialized size {size} bytes exceeds {MAX_ATTRIBUTES_BYTES}.")
    if problems:
        raise ValidationFailed({field: problems})
    return value


def _plain_json(value: Any, depth: int) -> bool:
    if value is None or isinstance(value, (str, bool, int, float)):
        return not (isinstance(value, float) and value != value)  # NaN is not JSON
    if depth >= MAX_NESTING_DEPTH:
        return False
    if isinstance(value, list):
        return len(value) <= MAX_NESTED_ITEMS and all(_plain_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= MAX_NESTED_ITEMS and all(
            isinstance(k, str) and len(k) <= MAX_KEY_LENGTH and _plain_json(v, depth + 1)
            for k, v in value.items())
    return False


def merge_attributes(current: dict[str, Any], changes: dict[str, Any], field: str
                     ) -> dict[str, Any]:
    """PATCH semantics shared by metadata and contexts: null deletes, anything else sets."""
    merged = dict(current or {})
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return check_attributes(merged, field)


def _check_ttl(ttl: int | None, default: int) -> int:
    ttl = default if ttl is None else ttl
    if not MIN_TTL_SECONDS <= ttl <= MAX_TTL_SECONDS:
        raise ValidationFailed({"ttl_seconds": [
            f"Must be between {MIN_TTL_SECONDS} seconds and 30 days ({MAX_TTL_SECONDS})."]})
    return ttl


def create_session(org: Organization, data: dict[str, Any]) -> Session:
    """Open a session for a serving assistant, linking the end user when one is named."""
    assistant = Assistant.get_for_org(data.get("assistant_id"), org)
    require_serving(assistant)
    default_ttl = min(max(org.session_ttl_seconds, MIN_TTL_SECONDS), MAX_TTL_SECONDS)
    ttl = _check_ttl(data.get("ttl_seconds"), default_ttl)
    metadata = check_attributes(
        {k: v for k, v in (data.get("metadata") or {}).items() if v is not None}, "metadata")
    user = data.get("user")
    end_user = upsert_end_user(org, user) if user else None
    now = utcnow()
    session = Session(
        org_id=org.id, assistant_id=assistant.id,
        end_user_id=end_user.id if end_user else None,
        user_data=dict(user) if user else None, channel=data.get("channel"), meta=metadata,
        expires_at=now + timedelta(seconds=ttl), created_at=now, updated_at=now,
    )
    db.session.add(session)
    db.session.commit()
    return session


def upsert_end_user(org: Organization, user: dict[str, Any]) -> EndUser:
    """One EndUser per (org, external_id). Does not commit: the caller's transaction
    decides. A concurrent insert of the same person loses the unique-constraint race in
    a savepoint and re-reads the winner's row."""
    external_id = user["external_id"]
    attributes = check_attributes(
        {k: v for k, v in user.items() if k not in USER_FIELDS and v is not None},
        "user")
    for _attempt in range(2):
        row = db.session.execute(EndUser.query_for_org(org).where(
            EndUser.external_id == external_id)).scalar_one_or_none()
        if row is not None:
            _refresh_end_user(row, user, attributes)
            return row
        row = EndUser(org_id=org.id, external_id=external_id, name=user.get("name"),
                      email=user.get("email"), attributes=attributes, last_seen_at=utcnow())
        try:
            with db.session.begin_nested():
                db.session.add(row)
            return row
        except IntegrityError:
            continue  # another request created it first; read theirs
    raise RuntimeError("end user upsert did not converge")  # pragma: no cover


def _refresh_end_user(row: EndUser, user: dict[str, Any], attributes: dict[str, Any]) -> None:
    if user.get("name"):
        row.name = user["name"]
    if user.get("email"):
        row.email = user["email"]
    if attributes:
        row.attributes = merge_attributes(row.attributes or {}, attributes, "user")
    row.last_seen_at = utcnow()


def get_session(org: Organization | str, session_id: str) -> Session:
    return Session.get_for_org(session_id, org)


def list_sessions(
    org: Organization, *, limit: int | None, cursor: str | None,
    external_id: str | None = None, channel: str | None = None, active: bool | None = None,
    assistant_id: str | None = None,
) -> Page:
    stmt = Session.query_for_org(org)
    if external_id is not None:
        stmt = stmt.join(EndUser, EndUser.id == Session.end_user_id).where(
            EndUser.external_id == external_id, EndUser.org_id == org.id)
    if channel is not None:
        stmt = stmt.where(Session.channel == channel)
    if assistant_id is not None:
        stmt = stmt.where(Session.assistant_id == assistant_id)
    if active is not None:
        now = utcnow()
        live = and_(Session.ended_at.is_(None), Session.expires_at > now)
        stmt = stmt.where(live if active else or_(Session.ended_at.is_not(None),
                                                  Session.expires_at <= now))
    return paginate(stmt, Session, limit=limit, cursor=cursor)


def require_active(session: Session) -> None:
    """The gate before anything new happens inside a session."""
    if not session.is_active():
        raise Gone("This session has expired or ended; start a new session.",
                   code="session_expired",
                   details={"session_id": session.id,
                            "ended_at": isoformat(session.ended_at or session.expires_at)})


def update_session(org: Organization, session_id: str, *, ttl_seconds: int | None = None,
                   metadata: dict[str, Any] | None = None) -> Session:
    session = Session.get_for_org(session_id, org, for_update=True)
    if ttl_seconds is not None:
        ttl = _check_ttl(ttl_seconds, ttl_seconds)
        require_active(session)
        session.expires_at = utcnow() + timedelta(seconds=ttl)
    if metadata:
        session.meta = merge_attributes(session.meta or {}, metadata, "metadata")
    session.updated_at = utcnow()
    db.session.commit()
    return session


def end_session(org: Organization, session_id: str) -> Session:
    """Idempotent: ending an ended session keeps the first end time."""
    session = Session.get_for_org(session_id, org, for_update=True)
    if session.ended_at is None:
        now = utcnow()
        expired = session.expires_at <= now
        session.ended_at = session.expires_at if expired else now
        session.end_reason = "expired" if expired else "ended"
        session.updated_at = now
        db.session.commit()
    return session


def expire_sessions(*, now: datetime | None = None) -> int:
    """Cron housekeeping across organizations: stamp `ended_at = expires_at` on sessions
    past their TTL so reports and filters can read a plain column."""
    now = now or utcnow()
    result = db.session.execute(
        update(Session)
        .where(Session.ended_at.is_(None), Session.expires_at <= now)
        .values(ended_at=Session.expires_at, end_reason="expired", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return int(result.rowcount or 0)


def end_user_external_ids(org: Organization | str, ids: set[str]) -> dict[str, str]:
    """end_user_id → external_id for exports and listings, in one query."""
    if not ids:
        return {}
    rows = db.session.execute(select(EndUser.id, EndUser.external_id).where(
        EndUser.org_id == (org if isinstance(org, str) else org.id), EndUser.id.in_(ids)))
    return {r[0]: r[1] for r in rows}
