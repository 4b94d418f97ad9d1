"""Conversations, their messages and the feedback on them (SPEC §6).

Rows here are an audit trail: they outlive the assistant (soft-deleted) and the session
(expired), and a reply records the version, model, retrieval and citations that made it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import OrgScoped, Timestamps
from models.ids import id_factory
from models.types import JSONType, UTCDateTime, utcnow


class Conversation(OrgScoped, Timestamps, db.Model):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_org_created", "org_id", "created_at"),
        Index("ix_conversations_org_assistant", "org_id", "assistant_id"),
    )
    not_found_message = "Conversation not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("conv"))
    session_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    assistant_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("assistants.id", ondelete="CASCADE"), nullable=False
    )
    # The assistant's live version when the conversation started.
    assistant_version: Mapped[int] = mapped_column(Integer, nullable=False)
    end_user_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("end_users.id", ondelete="SET NULL"), index=True
    )
    meta: Mapped[dict] = mapped_column("metadata", JSONType, nullable=False, default=dict)
    message_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Message(OrgScoped, db.Model):
    """Never edited. Assistant replies carry how they were produced."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        CheckConstraint("role IN ('user', 'assistant')", name="role"),
        CheckConstraint("status IN ('complete', 'truncated', 'incomplete')", name="status"),
    )
    not_found_message = "Message not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("msg"))
    conversation_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    # For a reply: the user message it answers.
    reply_to_id: Mapped[str | None] = mapped_column(String(40), index=True)
    citations: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    # Every chunk retrieval offered: [{source_id, chunk_id, score}].
    retrieval: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    assistant_version: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(String(100))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    grounded: Mapped[bool | None] = mapped_column(db.Boolean)
    answer_type: Mapped[str | None] = mapped_column(String(16))
    # How a reply ended: complete, truncated (cut by the model's token limit) or incomplete
    # (its stream stopped early); status_reason says why (services.answering.Reply).
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="complete",
                                        server_default="complete")
    status_reason: Mapped[str | None] = mapped_column(String(40))
    # Set when the local engine answered because the model failed: the failure's cause.
    fallback_reason: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Feedback(OrgScoped, Timestamps, db.Model):
    """A rating keeps the assistant, version and cited sources it judges, for analytics."""

    __tablename__ = "feedback"
    __table_args__ = (
        Index("ix_feedback_org_created", "org_id", "created_at"),
        Index("ix_feedback_org_assistant", "org_id", "assistant_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
    )
    not_found_message = "Feedback not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("fb"))
    conversation_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False,
        index=True,
    )
    message_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("messages.id", ondelete="SET NULL")
    )
    assistant_id: Mapped[str] = mapped_column(String(40), nullable=False)
    assistant_version: Mapped[int | None] = mapped_column(Integer)
    rating: Mapped[int] = mapped_column(Integer, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    actor_type: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(255))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    # The full actor object as sent, extra attributes included.
    actor: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    source_ids: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
