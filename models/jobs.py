"""Background job rows: what `GET /api/v1/jobs/:id` reports."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import OrgScoped
from models.ids import id_factory
from models.types import JSONType, UTCDateTime, utcnow

JOB_STATUSES = ("queued", "running", "succeeded", "failed")


class Job(OrgScoped, db.Model):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_org_created", "org_id", "created_at"),
        Index("ix_jobs_status_heartbeat", "status", "heartbeat_at"),
    )
    not_found_message = "Job not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("job"))
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    # The object the job works on (e.g. a source id); used to de-duplicate queued work.
    target_id: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    progress: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    params: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
