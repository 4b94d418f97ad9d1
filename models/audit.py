"""Request log and rate-limit events (the raw material of analytics) and the audit trail
of changes (SPEC §12)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.ids import id_factory
from models.types import JSONType, UTCDateTime, utcnow

# SQLite only autoincrements INTEGER PRIMARY KEY; BigInteger elsewhere.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class RequestLog(db.Model):
    """One row per keyed request. Not OrgScoped: platform keys read across orgs."""

    __tablename__ = "request_logs"
    __table_args__ = (
        Index("ix_request_logs_org_created", "org_id", "created_at"),
        Index("ix_request_logs_org_key_created", "org_id", "api_key_id", "created_at"),
        Index("ix_request_logs_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    org_id: Mapped[str | None] = mapped_column(String(40))
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    route: Mapped[str] = mapped_column(String(200), nullable=False)
    path: Mapped[str] = mapped_column(String(500), nullable=False)
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    latency_ms: Mapped[float] = mapped_column(db.Float, nullable=False)
    request_id: Mapped[str] = mapped_column(String(64), nullable=False)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RateLimitEvent(db.Model):
    """Every refused call; kept for audit and shown in analytics and the console."""

    __tablename__ = "rate_limit_events"
    __table_args__ = (Index("ix_rate_limit_events_org_created", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("rle"))
    org_id: Mapped[str | None] = mapped_column(String(40), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    path: Mapped[str] = mapped_column(String(500), nullable=False)
    route: Mapped[str | None] = mapped_column(String(200))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    limit: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class AuditEvent(db.Model):
    """One change to an organization's configuration, written in the transaction of the
    change (services.audit_trail). Append-only: no route edits or deletes one, and
    retention keeps them. Not OrgScoped: platform-key changes have no organization."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_org_created", "org_id", "created_at", "id"),
        Index("ix_audit_events_org_entity", "org_id", "entity_type", "entity_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("aud"))
    org_id: Mapped[str | None] = mapped_column(String(40))
    actor_type: Mapped[str] = mapped_column(String(8), nullable=False)  # user, key, system
    actor_id: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[str | None] = mapped_column(String(40))
    changes: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class IdempotencyRecord(db.Model):
    """The first answer to a POST sent with an `Idempotency-Key` (SPEC §12 hardening): the
    same key and body within IDEMPOTENCY_TTL_HOURS get this answer again, a different body
    422. `scope` is the organization (or a platform key)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (Index("ix_idempotency_records_created", "created_at"),)

    scope: Mapped[str] = mapped_column(String(60), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(12), nullable=False)  # in_progress, done
    status: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(db.Text)
    content_type: Mapped[str | None] = mapped_column(String(100))
    location: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
