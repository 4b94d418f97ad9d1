"""End users, sessions and their contexts (SPEC §5).

One `EndUser` per (organization, external_id) joins one person's sessions across channels;
a `Session` is a time-boxed window in which conversations may start; `Context` rows carry
attributes the assistant sees when it answers.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import OrgScoped, Timestamps
from models.ids import id_factory
from models.types import JSONType, UTCDateTime, utcnow


class EndUser(OrgScoped, Timestamps, db.Model):
    """The organization's customer, known by the id the organization gave it."""

    __tablename__ = "end_users"
    __table_args__ = (
        UniqueConstraint("org_id", "external_id", name="uq_end_users_org_external_id"),
    )
    not_found_message = "End user not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("eu"))
    external_id: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    attributes: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Session(OrgScoped, Timestamps, db.Model):
    """Active while not ended and not past `expires_at`; the row is never deleted."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_org_created", "org_id", "created_at"),
        Index("ix_sessions_org_expires", "org_id", "expires_at"),
    )
    not_found_message = "Session not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("sess"))
    assistant_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("assistants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    end_user_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("end_users.id", ondelete="SET NULL"), index=True
    )
    # The user object exactly as the channel sent it for this session (traceability).
    user_data: Mapped[dict | None] = mapped_column(JSONType)
    channel: Mapped[str | None] = mapped_column(String(64), index=True)
    meta: Mapped[dict] = mapped_column("metadata", JSONType, nullable=False, default=dict)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(16))  # "ended" | "expired"

    @property
    def anonymous(self) -> bool:
        return self.end_user_id is None

    def is_active(self, now: datetime | None = None) -> bool:
        return self.ended_at is None and self.expires_at > (now or utcnow())


class Context(OrgScoped, Timestamps, db.Model):
    """Attributes about the session (cart, plan, page...) given to the assistant."""

    __tablename__ = "contexts"
    __table_args__ = (Index("ix_contexts_org_created", "org_id", "created_at"),)
    not_found_message = "Context not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("ctx"))
    session_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    attributes: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
