"""`GET /api/v1/jobs/:job_id` — background work is observable, never a black box."""
from __future__ import annotations

from flask import Blueprint
from pydantic import BaseModel

from api.auth import current_org
from api.endpoint import endpoint
from api.schemas.common import Timestamp
from models.jobs import Job
from services.jobs import retry_job

bp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs")


class JobOut(BaseModel):
    id: str
    kind: str
    status: str
    progress: int
    error: str | None
    target_id: str | None
    attempts: int
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None

    @classmethod
    def of(cls, j: Job) -> "JobOut":
        return cls(id=j.id, kind=j.kind, status=j.status, progress=j.progress, error=j.error,
                   target_id=j.target_id, attempts=j.attempts, created_at=j.created_at,
                   started_at=j.started_at, finished_at=j.finished_at)


@bp.get("/<job_id>")
@endpoint(summary="Get a background job's status and progress", tags=["Jobs"],
          response=JobOut, errors=(404,))
def get(job_id: str) -> JobOut:
    return JobOut.of(Job.get_for_org(job_id, current_org()))


@bp.post("/<job_id>/retry")
@endpoint(summary="Retry a failed job (runs the same work as a new job)", tags=["Jobs"],
          response=JobOut, status=202, errors=(404, 409))
def retry(job_id: str) -> JobOut:
    return JobOut.of(retry_job(current_org().id, job_id))
