"""Test cases of an assistant and the evaluations that run them against a version
(SPEC §11): what gates a promotion when the assistant asks for passing tests."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import OrgScoped, Timestamps
from models.ids import id_factory
from models.types import JSONType, UTCDateTime

EVALUATION_STATUSES = ("queued", "running", "succeeded", "failed")


class AssistantTest(OrgScoped, Timestamps, db.Model):
    """A question and what a good reply does: cite one of these sources, contain this
    text, or say it does not know (at least one expectation)."""

    __tablename__ = "assistant_tests"
    __table_args__ = (Index("ix_assistant_tests_assistant_created", "assistant_id",
                            "created_at"),)
    not_found_message = "Test case not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("tc"))
    assistant_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("assistants.id", ondelete="CASCADE"), nullable=False)
    question: Mapped[str] = mapped_column(Text, nullable=False)
    expect_source_ids: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    expect_contains: Mapped[str | None] = mapped_column(Text)
    expect_no_answer: Mapped[bool | None] = mapped_column(Boolean)


class Evaluation(OrgScoped, Timestamps, db.Model):
    """One run of the assistant's test cases against one version; `cases` holds each
    case's verdict, reply and citations as they were (the cases may change later)."""

    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_assistant_version", "assistant_id", "version",
                            "created_at"),)
    not_found_message = "Evaluation not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("ev"))
    assistant_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("assistants.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="queued")
    job_id: Mapped[str | None] = mapped_column(String(40))
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    passed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pass_rate: Mapped[float | None] = mapped_column(Float)
    cases: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
