"""The RQ entry point: an `rq worker` process builds the application once and runs jobs."""
from __future__ import annotations

from flask import Flask

from factory import create_app
from jobs.runner import run_job_in_app

_worker_app: Flask | None = None


def run_job(job_id: str) -> None:
    global _worker_app
    if _worker_app is None:
        _worker_app = create_app()
    run_job_in_app(_worker_app, job_id)
