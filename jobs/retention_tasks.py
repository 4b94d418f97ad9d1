"""RQ entry point of the scheduled retention run (services mode)."""
from __future__ import annotations

from jobs.worker import worker_app
from services import retention


def run_retention() -> None:
    app = worker_app()
    with app.app_context():
        retention.run_scheduled(app)
