"""Analytics maintenance as background jobs: the hourly rollup and log retention.

Both are platform-wide and idempotent (the rollup watermark makes reruns no-ops), so the
Job row's organization only records who asked. Schedule them hourly / daily from cron
(`flask --app wsgi analytics rollup|prune`) or enqueue `analytics_rollup` /
`analytics_prune` through jobs.enqueue.
"""
from __future__ import annotations

from collections.abc import Callable

from jobs import job
from models.jobs import Job
from services.analytics.retention import prune
from services.analytics.rollups import roll_up


@job("analytics_rollup")
def rollup_job(row: Job, progress: Callable[[int], None]) -> None:
    """Fold every complete hour not yet rolled up."""
    roll_up(progress=progress)


@job("analytics_prune")
def prune_job(row: Job, progress: Callable[[int], None]) -> None:
    """Roll up, then delete raw request logs past the retention period."""
    days = (row.params or {}).get("retention_days")
    prune(retention_days=int(days) if days is not None else None)
    progress(100)
