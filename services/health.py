"""What a load balancer asks before sending traffic: can this process reach its stores?

Database and (in services mode) Redis are required: either one down is a 503. The rest is
information for the operator: job backlog, whether the index store is writable, and this
process's request-log writer (rows waiting, rows dropped when its queue overflowed).
"""
from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from extensions import db
from models.jobs import Job
from services.jobs import get_redis, queue_names
from services.request_log import get_writer


def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        extra = check() or {}
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not raise
        return {"ok": False, "error": type(exc).__name__,
                "ms": round((time.perf_counter() - started) * 1000, 1)}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **extra}


def health(app: Flask) -> tuple[bool, dict[str, Any]]:
    """(healthy, report). Never raises; every check is bounded by its store's timeouts."""
    checks: dict[str, Any] = {}

    def database() -> dict[str, Any]:
        counts = dict(db.session.execute(  # one query: it also proves the connection
            select(Job.status, func.count()).where(Job.status.in_(("queued", "running")))
            .group_by(Job.status)).all())
        db.session.rollback()
        return {"jobs_queued": int(counts.get("queued", 0)),
                "jobs_running": int(counts.get("running", 0))}

    checks["database"] = _timed(database)
    if not checks["database"]["ok"]:
        db.session.rollback()
    if app.config.get("REDIS_URL"):
        def redis() -> dict[str, Any]:
            from rq import Queue

            conn = get_redis(app)
            pipe = conn.pipeline(transaction=False)
            pipe.ping()
            for name in queue_names(app):
                pipe.llen(Queue.redis_queue_namespace_prefix + name)
            _, *depths = pipe.execute()
            return {"queue_depth": int(sum(depths))}

        checks["redis"] = _timed(redis)
    else:
        checks["redis"] = {"ok": True, "configured": False}

    def index_store() -> dict[str, Any]:
        path = app.config["INDEX_DIR"]
        os.makedirs(path, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise PermissionError("index directory is not writable")
        return {}

    checks["index_store"] = _timed(index_store)
    checks["request_log"] = get_writer(app).stats()
    healthy = all(checks[name]["ok"] for name in ("database", "redis", "index_store"))
    return healthy, {"status": "ok" if healthy else "unavailable",
                     "jobs_mode": app.config["JOBS_MODE"], "checks": checks}
