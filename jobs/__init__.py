"""Job wiring: the one place that knows how work leaves the request.

`enqueue()` writes a Job row (de-duplicated per organization, kind and target), commits,
and only then dispatches: inline (`sync`, tests), on an in-process background thread
(`thread`, the embedded default) or to RQ on Redis (`rq`, services mode). Job functions
are plain functions registered with `@job("kind")`, taking the Job row and a progress
callback; they reload their objects through the organization filter.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from collections.abc import Callable

from flask import Flask, current_app
from sqlalchemy import select

from extensions import db
from models.jobs import Job

log = logging.getLogger("companin.jobs")

JobFunction = Callable[[Job, Callable[[int], None]], None]
REGISTRY: dict[str, JobFunction] = {}


def job(kind: str) -> Callable[[JobFunction], JobFunction]:
    def register(fn: JobFunction) -> JobFunction:
        REGISTRY[kind] = fn
        return fn

    return register


def enqueue(org_id: str, kind: str, *, target_id: str | None = None,
            params: dict[str, Any] | None = None, dedupe: bool = True) -> Job:
    """Create (or reuse a pending) job for this target and dispatch it after the commit."""
    from jobs.sweeper import sweep_stale_jobs

    sweep_stale_jobs(org_id)  # cheap (indexed): stale work never blocks new work
    if dedupe and target_id:
        pending = db.session.execute(
            select(Job).where(Job.org_id == org_id, Job.kind == kind,
                              Job.target_id == target_id, Job.status == "queued")
        ).scalars().first()
        if pending is not None:
            return pending
    row = Job(org_id=org_id, kind=kind, target_id=target_id, params=params or {},
              status="queued")
    db.session.add(row)
    db.session.commit()
    dispatch(row.id)
    return row


def dispatch(job_id: str) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    mode = app.config["JOBS_MODE"]
    if mode == "sync":
        from jobs.runner import run_job_in_app

        run_job_in_app(app, job_id)
    elif mode == "thread":
        _executor(app).submit(_run_in_thread, app, job_id)
    elif mode == "rq":
        from rq import Retry

        queue = get_queue(app)
        intervals = app.config["JOB_RETRY_INTERVALS"]
        retry = Retry(max=len(intervals), interval=intervals) if intervals else None
        queue.enqueue("jobs.runner.run_job", job_id, job_id=f"rq-{job_id}",
                      job_timeout=app.config["JOB_TIMEOUT_SECONDS"], retry=retry,
                      failure_ttl=7 * 86400)
    else:  # pragma: no cover - config error
        raise RuntimeError(f"unknown JOBS_MODE {mode!r}")


def _run_in_thread(app: Flask, job_id: str) -> None:
    from jobs.runner import run_job_in_app

    try:
        run_job_in_app(app, job_id)
    except Exception:  # noqa: BLE001 - the runner already recorded the failure
        log.exception("job %s failed in the background thread", job_id)


def _executor(app: Flask) -> ThreadPoolExecutor:
    ex = app.extensions.get("companin_job_executor")
    if ex is None:
        # One worker thread: embedded mode favours a responsive web thread over throughput.
        ex = app.extensions["companin_job_executor"] = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="companin-job")
    return ex


def get_redis(app: Flask):  # noqa: ANN201 - redis.Redis
    conn = app.extensions.get("companin_redis")
    if conn is None:
        from redis import Redis

        conn = app.extensions["companin_redis"] = Redis.from_url(app.config["REDIS_URL"])
    return conn


def get_queue(app: Flask):  # noqa: ANN201 - rq.Queue
    from rq import Queue

    return Queue(app.config["RQ_QUEUE"], connection=get_redis(app))


def wait_for_idle(app: Flask, timeout: float = 120.0) -> None:
    """Block until in-process jobs are done (embedded mode; used by tests and the CLI)."""
    ex = app.extensions.get("companin_job_executor")
    if ex is not None:
        ex.submit(lambda: None).result(timeout=timeout)
