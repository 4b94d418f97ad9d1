"""Executes one Job row: status, progress, heartbeat, error — the same in every mode."""
from __future__ import annotations

import logging
import traceback

from flask import Flask

from extensions import db
from models.jobs import Job
from models.types import utcnow

log = logging.getLogger("companin.jobs")
_worker_app: Flask | None = None


class TransientJobError(Exception):
    """Raise from a job function to ask for a retry (RQ backoff) instead of failing."""


def run_job(job_id: str) -> None:
    """RQ entry point: builds the app once per worker process."""
    global _worker_app
    if _worker_app is None:
        from factory import create_app

        _worker_app = create_app()
    run_job_in_app(_worker_app, job_id)


def run_job_in_app(app: Flask, job_id: str) -> None:
    import jobs.tasks  # noqa: F401 - registers the job functions
    from jobs import REGISTRY

    with app.app_context():
        row = db.session.get(Job, job_id)
        if row is None:
            log.warning("job %s vanished before it ran", job_id)
            return
        if row.status in ("succeeded", "failed"):
            return
        fn = REGISTRY.get(row.kind)
        if fn is None:
            _finish(row, "failed", f"No job function is registered for {row.kind!r}.")
            return
        row.status, row.started_at, row.heartbeat_at = "running", utcnow(), utcnow()
        row.attempts += 1
        row.progress = 0
        db.session.commit()
        job_log = logging.LoggerAdapter(log, {"job_id": job_id})
        job_log.info("job %s (%s) started, attempt %d", job_id, row.kind, row.attempts)

        def progress(pct: int) -> None:
            row.progress = max(0, min(100, int(pct)))
            row.heartbeat_at = utcnow()
            db.session.commit()

        try:
            fn(row, progress)
        except TransientJobError as exc:
            db.session.rollback()
            row = db.session.get(Job, job_id)
            if (row.attempts > len(app.config["JOB_RETRY_INTERVALS"])
                    or app.config["JOBS_MODE"] != "rq"):
                _finish(row, "failed", str(exc) or "A transient error persisted.")
                return
            row.status, row.error = "queued", f"Retrying after: {exc}"
            db.session.commit()
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the job row
            db.session.rollback()
            row = db.session.get(Job, job_id)
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            job_log.error("job %s failed: %s\n%s", job_id, message, traceback.format_exc())
            _finish(row, "failed", message)
            return
        _finish(row, "succeeded", None)
        job_log.info("job %s succeeded", job_id)


def _finish(row: Job, status: str, error: str | None) -> None:
    row.status, row.error, row.finished_at = status, error, utcnow()
    if status == "succeeded":
        row.progress = 100
    db.session.commit()
