"""The audit trail (SPEC §12): who changed what, written in the transaction of the change.

A flush hook watches the models that make up an organization's configuration (the
`AUDITED` table below) and writes one `audit_events` row per changed row through the
flush's own connection, so the event commits or rolls back with the change and no service
can forget it. Traffic (sessions, conversations, messages, feedback, contexts) is not
audited: it is its own record, kept by retention. A change that touches no audited row
(refreshing a URL, queueing a re-embed, retrying a job) is recorded with `record()`.

The actor comes from the request: the web layer puts `("key", id)` or `("user", id)` in
`g.audit_actor`; anything else (jobs, the CLI) is the system.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Session

from extensions import db
from models.assistants import Assistant, AssistantVersion
from models.audit import AuditEvent
from models.evaluations import AssistantTest, Evaluation
from models.ids import new_id
from models.knowledge import KnowledgeSource
from models.orgs import ApiKey, Organization, User
from models.webhooks import WebhookEndpoint
from models.types import utcnow
from services.csv_text import csv_safe, drain
from services.pagination import MAX_LIMIT, Page, paginate

MAX_TEXT = 200  # characters of a text value kept in `changes`
MAX_ITEMS = 20  # items of a list value kept in `changes`
CHANGED_MARK = "(changed)"  # what a secret field's change reads as: never the value


@dataclass(frozen=True)
class Audited:
    """How one model is audited: its entity type, the fields whose changes are recorded,
    fields recorded only as "changed" (secrets), and the action a change reads as."""

    entity_type: str
    fields: tuple[str, ...]
    secret_fields: tuple[str, ...] = ()
    on_insert_only: bool = False
    # Fields whose later changes are recorded, when fewer than at creation: a source's
    # title or status moved by its ingestion job is not an operator's change.
    update_fields: tuple[str, ...] | None = None
    entity_id: Callable[[Any], str | None] = lambda row: row.id
    org_id: Callable[[Any], str | None] = lambda row: row.org_id
    action: Callable[[str, dict[str, list[Any]]], str] | None = None


def _assistant_action(verb: str, changes: dict[str, list[Any]]) -> str:
    if verb != "updated":
        return f"assistant.{verb}"
    if "deleted_at" in changes:
        return "assistant.deleted"
    if "live_version" in changes:
        before, after = changes["live_version"]
        return ("assistant.version_rolled_back" if before is not None and after < before
                else "assistant.version_promoted")
    if set(changes) == {"is_active"}:
        return "assistant.resumed" if changes["is_active"][1] else "assistant.paused"
    if set(changes) <= {"knowledge_mode", "knowledge_linked", "knowledge_excluded"}:
        return "assistant.knowledge_scope_changed"
    return "assistant.updated"


def _key_action(verb: str, changes: dict[str, list[Any]]) -> str:
    if verb == "updated" and "revoked_at" in changes:
        return "api_key.revoked"
    return f"api_key.{verb}"


def _user_action(verb: str, changes: dict[str, list[Any]]) -> str:
    if verb == "updated" and "disabled_at" in changes:
        return "user.disabled" if changes["disabled_at"][1] else "user.enabled"
    if verb == "updated" and set(changes) == {"role"}:
        return "user.role_changed"
    return f"user.{verb}"


def _source_action(verb: str, changes: dict[str, list[Any]]) -> str:
    if verb == "created" and changes.get("corrects_message_id", [None, None])[1]:
        return "correction.created"
    return f"knowledge_source.{verb}"


AUDITED: dict[type, Audited] = {
    Organization: Audited(
        "organization", ("name", "rate_limit_per_hour", "session_ttl_seconds", "task_models",
                         "languages", "embedding_model", "retention_request_logs_days",
                         "retention_conversations_days", "retention_rate_limit_events_days"),
        org_id=lambda row: row.id),
    ApiKey: Audited(
        "api_key", ("name", "prefix", "is_platform", "scopes", "expires_at",
                    "rate_limit_per_hour", "revoked_at"),
        secret_fields=("key_hash",), action=_key_action),
    User: Audited("user", ("email", "name", "role", "disabled_at"),
                  secret_fields=("password_hash",), action=_user_action),
    Assistant: Audited(
        "assistant", ("name", "description", "tone", "language", "instructions",
                      "task_models", "is_active", "live_version", "knowledge_mode",
                      "knowledge_linked", "knowledge_excluded",
                      "promotion_requires_passing_tests", "deleted_at"),
        action=_assistant_action),
    # A new version is an event of its assistant; versions are never updated.
    AssistantVersion: Audited(
        "assistant", ("number", "name", "description", "tone", "language", "instructions",
                      "task_models", "note"),
        on_insert_only=True, entity_id=lambda row: row.assistant_id,
        action=lambda verb, _c: "assistant.version_created"),
    KnowledgeSource: Audited(
        "knowledge_source", ("kind", "title", "filename", "url", "question", "answer", "tags",
                             "corrects_message_id"),
        update_fields=("question", "answer", "tags", "corrects_message_id"),
        action=_source_action),
    AssistantTest: Audited(
        "assistant_test", ("assistant_id", "question", "expect_source_ids", "expect_contains",
                           "expect_no_answer")),
    Evaluation: Audited("evaluation", ("assistant_id", "version"), on_insert_only=True,
                        action=lambda verb, _c: "evaluation.started"),
    WebhookEndpoint: Audited("webhook", ("url", "description", "events", "is_active"),
                             secret_fields=("secret",)),
}
# `job` appears only through record() (a retry).
ENTITY_TYPES = sorted({a.entity_type for a in AUDITED.values()} | {"job"})
ACTOR_TYPES = ("user", "key", "system")


# --------------------------------------------------------------------------- the actor
def set_actor(actor_type: str, actor_id: str | None) -> None:
    """Called by the web layer once it knows who is calling (API key or console user)."""
    g._get_current_object().audit_actor = (actor_type, actor_id)


def _context() -> dict[str, Any]:
    if not has_request_context():
        return {"actor_type": "system", "actor_id": None, "request_id": None,
                "client_ip": None}
    actor_type, actor_id = g.get("audit_actor") or ("system", None)
    return {"actor_type": actor_type, "actor_id": actor_id,
            "request_id": g.get("request_id"),
            "client_ip": (request.remote_addr or "")[:64] or None}


# ------------------------------------------------------------------------ the summary
def _summary(value: Any) -> Any:
    """A short, JSON-safe form of one value: long texts and lists are cut."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT - 1] + "…"
    if isinstance(value, list | tuple):
        items = [_summary(v) for v in list(value)[:MAX_ITEMS]]
        return items + ["…"] if len(value) > MAX_ITEMS else items
    if isinstance(value, dict):
        return {str(k): _summary(v) for k, v in list(value.items())[:MAX_ITEMS]}
    return value


def _changes(row: Any, spec: Audited, verb: str) -> dict[str, list[Any]]:
    state = inspect(row)
    out: dict[str, list[Any]] = {}
    for field in spec.fields:
        if verb != "updated":  # a new row's values are the "after", a deleted one's "before"
            value = getattr(row, field)
            if value not in (None, "", [], {}):
                pair = [None, _summary(value)]
                out[field] = pair if verb == "created" else pair[::-1]
            continue
        if spec.update_fields is not None and field not in spec.update_fields:
            continue
        hist = state.attrs[field].history
        if not hist.has_changes():
            continue
        before = hist.deleted[0] if hist.deleted else None
        after = hist.added[0] if hist.added else None
        if before != after:
            out[field] = [_summary(before), _summary(after)]
    for field in spec.secret_fields:
        if verb == "updated" and state.attrs[field].history.has_changes():
            out[field.removesuffix("_hash")] = [CHANGED_MARK, CHANGED_MARK]
    return out


def _event(row: Any, spec: Audited, verb: str, context: dict[str, Any]) -> dict | None:
    changes = _changes(row, spec, verb)
    if verb == "updated" and not changes:
        return None  # only unaudited fields changed (status, counters, timestamps)
    action = spec.action(verb, changes) if spec.action else f"{spec.entity_type}.{verb}"
    return {"id": new_id("aud"), "org_id": spec.org_id(row), "action": action,
            "entity_type": spec.entity_type, "entity_id": spec.entity_id(row),
            "changes": changes, "created_at": utcnow(), **context}


def _after_flush(session: Session, _flush_context: Any) -> None:
    rows: list[dict] = []
    context: dict[str, Any] | None = None
    for verb, objects in (("created", session.new), ("updated", session.dirty),
                          ("deleted", session.deleted)):
        for row in objects:
            spec = AUDITED.get(type(row))
            if spec is None or (spec.on_insert_only and verb != "created"):
                continue
            if verb == "updated" and not session.is_modified(row, include_collections=False):
                continue
            context = context or _context()
            event_row = _event(row, spec, verb, context)
            if event_row is not None:
                rows.append(event_row)
    if rows:
        session.connection().execute(insert(AuditEvent), rows)


def install() -> None:
    """Watch every session's flushes (idempotent: the factory may run more than once)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)


def record(org_id: str, action: str, entity_type: str, entity_id: str | None,
           changes: dict[str, Any] | None = None) -> None:
    """An event for a change no audited row shows (a refresh, a re-embed, a retry); joins
    the caller's transaction, which commits it with the rest."""
    db.session.add(AuditEvent(org_id=org_id, action=action, entity_type=entity_type,
                              entity_id=entity_id,
                              changes={k: _summary(v) for k, v in (changes or {}).items()},
                              created_at=utcnow(), **_context()))


# ------------------------------------------------------------------------------ reads
def events_query(org: Organization | str, *, actor_type: str | None = None,
                 actor_id: str | None = None, entity_type: str | None = None,
                 entity_id: str | None = None, action: str | None = None,
                 since: datetime | None = None, until: datetime | None = None) -> Any:
    """The organization's events matching every filter given (`action` may end in `.*`)."""
    org_id = org if isinstance(org, str) else org.id
    stmt = select(AuditEvent).where(AuditEvent.org_id == org_id)
    for column, value in ((AuditEvent.actor_type, actor_type), (AuditEvent.actor_id, actor_id),
                          (AuditEvent.entity_type, entity_type),
                          (AuditEvent.entity_id, entity_id)):
        if value:
            stmt = stmt.where(column == value)
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action[:-1]) if action.endswith("*")
                          else AuditEvent.action == action)
    if since is not None:
        stmt = stmt.where(AuditEvent.created_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.created_at < until)
    return stmt


def list_events(org: Organization | str, *, limit: int | None, cursor: str | None,
                **filters: Any) -> Page:
    return paginate(events_query(org, **filters), AuditEvent, limit=limit, cursor=cursor)


CSV_COLUMNS = ("id", "created_at", "actor_type", "actor_id", "action", "entity_type",
               "entity_id", "changes", "request_id", "client_ip")


def export_csv(org: Organization | str, **filters: Any) -> Iterator[str]:
    """CSV of every matching event, newest first, streamed a page at a time."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    cursor: str | None = None
    while True:
        page = list_events(org, limit=MAX_LIMIT, cursor=cursor, **filters)
        for e in page.items:
            writer.writerow([csv_safe(v) for v in (
                e.id, e.created_at.isoformat(), e.actor_type, e.actor_id, e.action,
                e.entity_type, e.entity_id,
                json.dumps(e.changes, ensure_ascii=False, sort_keys=True),
                e.request_id, e.client_ip)])
        yield drain(buf)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
