"""Assistants and their immutable versions."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import OrgScoped, Timestamps
from models.ids import id_factory
from models.types import JSONType, UTCDateTime, utcnow

CONFIG_FIELDS = ("name", "description", "tone", "language", "instructions", "task_models")


class Assistant(OrgScoped, Timestamps, db.Model):
    """The live configuration is mirrored here from the live version for fast reads."""

    __tablename__ = "assistants"
    __table_args__ = (Index("ix_assistants_org_created", "org_id", "created_at"),)
    not_found_message = "Assistant not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("asst"))
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    tone: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    language: Mapped[str] = mapped_column(String(35), nullable=False, default="en")
    instructions: Mapped[str] = mapped_column(Text, nullable=False, default="")
    task_models: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    live_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    latest_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    knowledge_mode: Mapped[str] = mapped_column(String(10), nullable=False, default="all")
    knowledge_linked: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    knowledge_excluded: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    # Promotion needs the version's latest evaluation to pass (SPEC §11); not versioned.
    promotion_requires_passing_tests: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AssistantVersion(OrgScoped, db.Model):
    """Never updated after insert: promotion moves the assistant's pointer, not the row."""

    __tablename__ = "assistant_versions"
    __table_args__ = (
        UniqueConstraint("assistant_id", "number", name="uq_assistant_versions_number"),
    )
    not_found_message = "Version not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("astv"))
    assistant_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("assistants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    tone: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    language: Mapped[str] = mapped_column(String(35), nullable=False, default="en")
    instructions: Mapped[str] = mapped_column(Text, nullable=False, default="")
    task_models: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    note: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    def config(self) -> dict:
        return {f: getattr(self, f) for f in CONFIG_FIELDS}


class AssistantPromotion(OrgScoped, db.Model):
    """One row each time a version goes live (creation, promotion, rollback): the history
    that tells a version that was live once from a draft that never was."""

    __tablename__ = "assistant_promotions"
    __table_args__ = (Index("ix_assistant_promotions_assistant_created", "assistant_id",
                            "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("apr"))
    assistant_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("assistants.id", ondelete="CASCADE"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    previous_number: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


@event.listens_for(AssistantVersion, "before_update")
def _versions_are_immutable(mapper, connection, target) -> None:  # noqa: ANN001
    raise RuntimeError("assistant versions are immutable; create a new version instead")
