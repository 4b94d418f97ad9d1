"""The RQ entry point of every job (`flask --app wsgi jobs worker` runs the workers)."""
from __future__ import annotations

from flask import Flask, current_app, has_app_context

from factory import create_app
from jobs.runner import run_job_in_app

_worker_app: Flask | None = None


def worker_app() -> Flask:
    """Inside `flask jobs worker` the command's application; a plain `rq worker` process
    builds one application, once."""
    global _worker_app
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    if _worker_app is None:
        _worker_app = create_app()
    return _worker_app


def run_job(job_id: str) -> None:
    run_job_in_app(worker_app(), job_id)
