"""Background work as the services see it: queue a Job row, and make sure it runs.

The Job row is the outbox. `enqueue()` writes it (de-duplicated per organization, kind and
target), commits, and only then dispatches: inline (`sync`, tests), on in-process worker
threads (`thread`, the embedded default) or to RQ on Redis (`rq`, services mode). A
dispatch that fails (Redis down) or is lost (an embedded restart, a flushed queue) leaves
the row `queued`; `sweep()` re-dispatches such rows and fails `running` jobs whose worker
stopped heart-beating, so no job stays stuck. The job functions themselves live in `jobs/`
and are handed to us by the factory (`app.extensions["companin_job_runner"]`), so this
module never imports them.
"""
from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import or_, select

from errors import Conflict
from extensions import db
from models.evaluations import Evaluation
from models.jobs import Job
from models.knowledge import KnowledgeSource
from models.types import utcnow
from services import audit_trail

log = logging.getLogger("companin.jobs")

Progress = Callable[[int], None]
STALE_MESSAGE = "The worker running this job stopped responding; retry it."
TIMEOUT_MESSAGE = "The job ran past its time limit ({seconds} s); retry it."
# A queued row younger than this may still be on its way to the queue: leave it alone.
REDISPATCH_GRACE_SECONDS = 30


class TransientJobError(Exception):
    """Raise from a job function to ask for a retry (RQ backoff) instead of failing."""


# ----------------------------------------------------------------------------- queueing
def enqueue(org_id: str, kind: str, *, target_id: str | None = None,
            params: dict[str, Any] | None = None, dedupe: bool = True) -> Job:
    """Create (or reuse a pending) job for this target and dispatch it after the commit."""
    _fail_stale(current_app.config, org_id)  # indexed: stale work never blocks new work
    if dedupe and target_id:
        pending = db.session.execute(
            select(Job).where(Job.org_id == org_id, Job.kind == kind,
                              Job.target_id == target_id, Job.status == "queued")
        ).scalars().first()
        if pending is not None:
            if not _is_dispatched(current_app, pending.id):
                dispatch(pending.id, org_id)  # never attach to a job that will not run
            return pending
    row = Job(org_id=org_id, kind=kind, target_id=target_id, params=params or {},
              status="queued")
    db.session.add(row)
    db.session.commit()
    dispatch(row.id, org_id)
    return row


def dispatch(job_id: str, org_id: str) -> bool:
    """Hand a committed job to the configured runner; False when that failed (the row
    stays queued and the sweeper tries again)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    mode = app.config["JOBS_MODE"]
    if mode == "sync":
        app.extensions["companin_job_runner"](app, job_id)
    elif mode == "thread":
        pending = _pending(app)
        with _pending_lock:
            if job_id in pending:
                return True
            pending.add(job_id)
        _executor(app).submit(_run_in_thread, app, job_id)
    elif mode == "rq":
        from redis.exceptions import RedisError
        from rq import Retry

        intervals = app.config["JOB_RETRY_INTERVALS"]
        retry = Retry(max=len(intervals), interval=intervals) if intervals else None
        try:
            queue_for(app, org_id).enqueue(
                "jobs.worker.run_job", job_id, job_id=f"rq-{job_id}",
                job_timeout=app.config["JOB_TIMEOUT_SECONDS"], retry=retry,
                failure_ttl=7 * 86400)
        except RedisError:
            log.exception("job %s committed but not dispatched; the sweeper will retry", job_id)
            return False
    else:  # pragma: no cover - config error
        raise RuntimeError(f"unknown JOBS_MODE {mode!r}")
    return True


def _is_dispatched(app: Flask, job_id: str) -> bool:
    mode = app.config["JOBS_MODE"]
    if mode == "thread":
        with _pending_lock:
            return job_id in _pending(app)
    if mode == "rq":
        from redis.exceptions import RedisError
        from rq.exceptions import NoSuchJobError
        from rq.job import Job as RQJob

        try:
            status = RQJob.fetch(f"rq-{job_id}", connection=get_redis(app)).get_status()
        except NoSuchJobError:
            return False
        except RedisError:
            return True  # cannot tell; the sweeper will look again
        return status in ("queued", "started", "scheduled", "deferred")
    return True


_pending_lock = threading.Lock()


def _pending(app: Flask) -> set[str]:
    return app.extensions.setdefault("companin_job_pending", set())


def _run_in_thread(app: Flask, job_id: str) -> None:
    try:
        app.extensions["companin_job_runner"](app, job_id)
    except Exception:  # noqa: BLE001 - the runner already recorded the failure
        log.exception("job %s failed in the background thread", job_id)
    finally:
        with _pending_lock:
            _pending(app).discard(job_id)


def _executor(app: Flask) -> ThreadPoolExecutor:
    ex = app.extensions.get("companin_job_executor")
    if ex is None:
        ex = app.extensions["companin_job_executor"] = ThreadPoolExecutor(
            max_workers=app.config["JOB_THREADS"], thread_name_prefix="companin-job")
    return ex


def get_redis(app: Flask):  # noqa: ANN201 - redis.Redis
    conn = app.extensions.get("companin_redis")
    if conn is None:
        from redis import Redis

        conn = app.extensions["companin_redis"] = Redis.from_url(app.config["REDIS_URL"])
    return conn


def queue_names(app: Flask) -> list[str]:
    """The RQ queues: organizations are spread over RQ_QUEUE_SHARDS queues that workers
    serve round-robin (jobs.fair), so one organization's backlog waits in its own queue
    instead of in front of everyone else's."""
    shards = app.config["RQ_QUEUE_SHARDS"]
    base = app.config["RQ_QUEUE"]
    return [base] if shards <= 1 else [f"{base}-{n}" for n in range(shards)]


def queue_for(app: Flask, org_id: str):  # noqa: ANN201 - rq.Queue
    from rq import Queue

    names = queue_names(app)
    return Queue(names[shard_of(org_id, len(names))], connection=get_redis(app))


def shard_of(org_id: str, shards: int) -> int:
    return zlib.crc32(org_id.encode()) % shards


def get_queues(app: Flask) -> list:
    from rq import Queue

    return [Queue(name, connection=get_redis(app)) for name in queue_names(app)]


def wait_for_idle(app: Flask, timeout: float = 120.0) -> None:
    """Block until in-process jobs are done (embedded mode; used by tests and the CLI)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _pending_lock:
            if not _pending(app):
                return
        time.sleep(0.02)
    raise TimeoutError("background jobs still running")


# ------------------------------------------------------------------------------ sweeping
def sweep(org_id: str | None = None) -> dict[str, list[str]]:
    """Fail running jobs that stopped heart-beating or ran past the job timeout, and
    re-dispatch queued jobs whose dispatch was lost. Returns the ids touched."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return {"failed": _fail_stale(app.config, org_id),
            "redispatched": _redispatch_lost(app, org_id)}


def _fail_stale(config: Any, org_id: str | None) -> list[str]:
    now = utcnow()
    cutoff = now - timedelta(seconds=config["JOB_STALE_SECONDS"])
    too_old = now - timedelta(seconds=config["JOB_TIMEOUT_SECONDS"] + 60)
    stmt = select(Job).where(Job.status == "running", or_(
        Job.heartbeat_at < cutoff, Job.heartbeat_at.is_(None), Job.started_at < too_old))
    if org_id:
        stmt = stmt.where(Job.org_id == org_id)
    failed = []
    for job in db.session.execute(stmt).scalars():
        timed_out = job.started_at is not None and job.started_at < too_old
        job.status, job.finished_at = "failed", now
        job.error = (TIMEOUT_MESSAGE.format(seconds=config["JOB_TIMEOUT_SECONDS"])
                     if timed_out else STALE_MESSAGE)
        failed.append(job.id)
        _fail_sources(job)
        _fail_evaluation(job)
    if failed:
        db.session.commit()
    return failed


def _redispatch_lost(app: Flask, org_id: str | None) -> list[str]:
    """Queued rows older than the grace period whose queue entry is gone (one Redis read
    each): the periodic sweep's work, never the request's."""
    if app.config["JOBS_MODE"] == "sync":
        return []
    grace = utcnow() - timedelta(seconds=REDISPATCH_GRACE_SECONDS)
    stmt = select(Job.id, Job.org_id).where(Job.status == "queued", Job.created_at < grace)
    if org_id:
        stmt = stmt.where(Job.org_id == org_id)
    return [job_id for job_id, job_org in db.session.execute(stmt.limit(500)).all()
            if not _is_dispatched(app, job_id) and dispatch(job_id, job_org)]


def maybe_sweep() -> None:
    """Run `sweep` at most once per JOB_SWEEP_INTERVAL_SECONDS in this process (called
    before requests). The first call of an embedded process resumes every queued job: a
    new process has dispatched nothing, so whatever is queued was left by the last one."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions.setdefault("companin_job_sweep", {"at": None})
    now = time.monotonic()
    with _pending_lock:
        last = state["at"]
        if last is not None and now - last < app.config["JOB_SWEEP_INTERVAL_SECONDS"]:
            return
        state["at"] = now
    if last is None and app.config["JOBS_MODE"] == "thread":
        for job_id, job_org in db.session.execute(
                select(Job.id, Job.org_id).where(Job.status == "queued")).all():
            dispatch(job_id, job_org)
    sweep()


def _fail_sources(job: Job) -> None:
    ids = job.params.get("source_ids") or ([job.target_id] if job.target_id else [])
    for source in db.session.execute(select(KnowledgeSource).where(
            KnowledgeSource.org_id == job.org_id, KnowledgeSource.id.in_(ids),
            KnowledgeSource.status.in_(("queued", "processing")))).scalars():
        source.status, source.error = "failed", job.error or STALE_MESSAGE


def retry_job(org_id: str, job_id: str) -> Job:
    """A new job with the same work; only failed jobs can be retried."""
    old = Job.get_for_org(job_id, org_id)
    if old.status != "failed":
        raise Conflict("Only failed jobs can be retried.", code="job_not_failed")
    audit_trail.record(org_id, "job.retried", "job", old.id, {"kind": [old.kind, old.kind]})
    job = enqueue(org_id, old.kind, target_id=old.target_id, params=dict(old.params or {}),
                  dedupe=True)
    db.session.commit()  # the event, when the retry joined a job already pending
    return job


def _fail_evaluation(job: Job) -> None:
    """An evaluation whose worker died says so, instead of "running" for ever (the
    promotion gate only counts finished runs, so it stays closed either way)."""
    if job.kind != "evaluation" or not job.target_id:
        return
    for evaluation in db.session.execute(select(Evaluation).where(
            Evaluation.org_id == job.org_id, Evaluation.id == job.target_id,
            Evaluation.status.in_(("queued", "running")))).scalars():
        evaluation.status, evaluation.finished_at = "failed", job.finished_at or utcnow()
        evaluation.error = job.error or STALE_MESSAGE
