"""Organizations, their API keys and their console operators."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from types import MappingProxyType
from typing import Any, Self

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import OrgScoped, Timestamps
from models.ids import id_factory
from models.types import JSONType, UTCDateTime


class Organization(Timestamps, db.Model):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("org"))
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    rate_limit_per_hour: Mapped[int] = mapped_column(Integer, nullable=False, default=100)
    session_ttl_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=1800)
    # Organization-wide task models ({"chat": ..., "summarize": ...}); assistants override.
    task_models: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    # Languages the organization works in (ISO 639-1): OCR language packs, the lexical
    # analyzers tried on a question, the fallback when a text is too short to identify.
    # NULL = the platform default (DEFAULT_ORG_LANGUAGES).
    languages: Mapped[list | None] = mapped_column(JSONType)
    # The model whose vectors serve this organization's searches; NULL until its first
    # source (then EMBEDDING_MODEL). Changed only by the re-embed job when complete.
    embedding_model: Mapped[str | None] = mapped_column(String(100))
    # Retention (SPEC §12): days to keep each kind of record; NULL = keep. Rollups and
    # audit events are always kept. Enforced by services.retention in bounded batches.
    retention_request_logs_days: Mapped[int | None] = mapped_column(Integer)
    retention_conversations_days: Mapped[int | None] = mapped_column(Integer)
    retention_rate_limit_events_days: Mapped[int | None] = mapped_column(Integer)
    retention_last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retention_last_result: Mapped[dict | None] = mapped_column(JSONType)


class ApiKey(Timestamps, db.Model):
    """Only the sha256 of a key is stored, with a short visible prefix for lookup."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("key"))
    # NULL for platform keys, which are not bound to one organization.
    org_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    prefix: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    is_platform: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_user_id: Mapped[str | None] = mapped_column(String(40))
    # What the key may call (services.keys.SCOPES); platform keys are not scoped.
    scopes: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Its own hourly budget inside the organization's; NULL = only the organization's.
    rate_limit_per_hour: Mapped[int | None] = mapped_column(Integer)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def _frozen(value: Any) -> Any:
    """JSON values made read-only all the way down: a request cannot change a snapshot
    that other requests share (dicts become read-only mappings, lists tuples)."""
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


class _Snapshot:
    __slots__ = ()

    @classmethod
    def of(cls, row: Any) -> Self:
        return cls(**{f.name: _frozen(getattr(row, f.name)) for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class OrganizationSnapshot(_Snapshot):
    """An organization as a keyed request sees it (api.auth.current_org): every column,
    read-only, bound to no session, so the verified-key cache serves it to each request
    without building ORM instances. Code that changes an organization loads the row."""

    id: str
    name: str
    rate_limit_per_hour: int
    session_ttl_seconds: int
    task_models: Mapping[str, Any]
    languages: tuple[str, ...] | None
    embedding_model: str | None
    retention_request_logs_days: int | None
    retention_conversations_days: int | None
    retention_rate_limit_events_days: int | None
    retention_last_run_at: datetime | None
    retention_last_result: Mapping[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKeySnapshot(_Snapshot):
    """The verified key of a request, like OrganizationSnapshot: every column, read-only."""

    id: str
    org_id: str | None
    name: str
    prefix: str
    key_hash: str
    is_platform: bool
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_by_user_id: str | None
    scopes: tuple[str, ...]
    expires_at: datetime | None
    rate_limit_per_hour: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class User(UserMixin, OrgScoped, Timestamps, db.Model):
    """A console operator; roles are owner, admin and viewer."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("org_id", "email", name="uq_users_org_email"),)
    not_found_message = "User not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("usr"))
    email: Mapped[str] = mapped_column(String(254), nullable=False, index=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="viewer")
    name: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped by sign-out, a role change or a new password: every console session signed
    # with an older number ends on its next request, in every process (SPEC §12 hardening).
    session_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                                 server_default="0")
    # Platform administrators (created by CLI) may read every organization's analytics in
    # the console, like a platform API key; everything else stays scoped to their org.
    is_platform_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                                    server_default=sa_false())

    ROLES = ("owner", "admin", "viewer")

    @property
    def can_write(self) -> bool:
        return self.role in ("owner", "admin")
