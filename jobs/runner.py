"""Executes one Job row: status, progress, heartbeat, error — the same in every mode."""
from __future__ import annotations

import logging
import threading
import traceback

from flask import Flask
from sqlalchemy import update

import jobs.tasks  # noqa: F401 - registers the job functions
from extensions import db
from jobs import REGISTRY
from models.jobs import Job
from models.types import utcnow
from services.jobs import TransientJobError

log = logging.getLogger("companin.jobs")


def run_job_in_app(app: Flask, job_id: str) -> None:
    with app.app_context():
        row = db.session.get(Job, job_id)
        if row is None:
            log.warning("job %s vanished before it ran", job_id)
            return
        if row.status in ("succeeded", "failed", "running"):
            return  # a re-dispatch of a job that already ran (or is running elsewhere)
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

        with _Heartbeat(app, job_id):
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
                job_log.error("job %s failed: %s\n%s", job_id, message,
                              traceback.format_exc())
                _finish(row, "failed", message)
                return
        _finish(row, "succeeded", None)
        job_log.info("job %s succeeded", job_id)


class _Heartbeat:
    """Beats the row every JOB_HEARTBEAT_SECONDS while the job runs, even through a long
    step that reports no progress: a silent row means a dead worker, found in a minute."""

    def __init__(self, app: Flask, job_id: str) -> None:
        self.app, self.job_id = app, job_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"heartbeat-{job_id}")

    def __enter__(self) -> None:
        self.thread.start()

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)

    def _run(self) -> None:
        every = self.app.config["JOB_HEARTBEAT_SECONDS"]
        while not self.stop.wait(every):
            with self.app.app_context():
                try:
                    db.session.execute(update(Job).where(
                        Job.id == self.job_id, Job.status == "running").values(
                        heartbeat_at=utcnow()))
                    db.session.commit()
                except Exception:  # noqa: BLE001 - a missed beat is retried next time
                    log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
                    db.session.rollback()
                finally:
                    db.session.remove()


def _finish(row: Job, status: str, error: str | None) -> None:
    row.status, row.error, row.finished_at = status, error, utcnow()
    if status == "succeeded":
        row.progress = 100
    db.session.commit()
