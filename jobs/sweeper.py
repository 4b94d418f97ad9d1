"""Nothing stays `running` forever: jobs whose worker stopped heart-beating are failed.

Run by `flask --app wsgi jobs sweep` (cron or an RQ-scheduled call) and opportunistically
before new work is queued. The source a failed job was processing is marked `failed` too,
keeping its previous chunks and index.
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select

from extensions import db
from models.jobs import Job
from models.types import utcnow

STALE_MESSAGE = "The worker running this job stopped responding; retry it."


def sweep_stale_jobs(org_id: str | None = None) -> list[str]:
    """Fail running jobs whose heartbeat is older than JOB_STALE_SECONDS; returns ids."""
    cutoff = utcnow() - timedelta(seconds=current_app.config["JOB_STALE_SECONDS"])
    stmt = select(Job).where(Job.status == "running", or_(
        Job.heartbeat_at < cutoff, Job.heartbeat_at.is_(None)))
    if org_id:
        stmt = stmt.where(Job.org_id == org_id)
    failed = []
    for job in db.session.execute(stmt).scalars():
        job.status, job.error, job.finished_at = "failed", STALE_MESSAGE, utcnow()
        failed.append(job.id)
        _fail_sources(job)
    if failed:
        db.session.commit()
    return failed


def _fail_sources(job: Job) -> None:
    try:
        from models.knowledge import KnowledgeSource
    except ImportError:  # pragma: no cover
        return
    ids = job.params.get("source_ids") or ([job.target_id] if job.target_id else [])
    for source in db.session.execute(select(KnowledgeSource).where(
            KnowledgeSource.org_id == job.org_id, KnowledgeSource.id.in_(ids),
            KnowledgeSource.status.in_(("queued", "processing")))).scalars():
        source.status, source.error = "failed", STALE_MESSAGE


def retry_job(org_id: str, job_id: str) -> Job:
    """A new job with the same work; only failed jobs can be retried."""
    from errors import Conflict
    from jobs import enqueue

    old = Job.get_for_org(job_id, org_id)
    if old.status != "failed":
        raise Conflict("Only failed jobs can be retried.", code="job_not_failed")
    return enqueue(org_id, old.kind, target_id=old.target_id, params=dict(old.params or {}),
                   dedupe=True)
