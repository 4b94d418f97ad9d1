"""Retention: raw request logs older than REQUEST_LOG_RETENTION_DAYS are deleted, after
their hours are rolled up, so usage and endpoint analytics still answer for them.

Rate-limit events are an audit trail (SPEC §2) and are not pruned here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from extensions import db
from models.audit import RequestLog
from models.types import isoformat, utcnow
from services.analytics.rollups import RollupResult, roll_up, watermark
from services.retention import delete_in_batches

BATCH = 5000


@dataclass
class PruneResult:
    cutoff: datetime
    deleted: int
    rollup: RollupResult

    def as_dict(self) -> dict[str, object]:
        return {"cutoff": isoformat(self.cutoff), "deleted": self.deleted,
                "rollup": self.rollup.as_dict()}


def prune(now: datetime | None = None, retention_days: int | None = None) -> PruneResult:
    """Roll up, then delete raw rows before min(retention cutoff, rollup watermark): a row
    whose hour is not in the rollups yet is never deleted."""
    now = now or utcnow()
    days = retention_days if retention_days is not None else int(
        current_app.config["REQUEST_LOG_RETENTION_DAYS"])
    rolled = roll_up(now)
    cutoff = now - timedelta(days=days)
    mark = watermark()
    limit = min(cutoff, mark) if mark is not None else None
    deleted = 0
    if limit is not None:
        deleted = delete_in_batches(
            select(RequestLog.id).where(RequestLog.created_at < limit),
            lambda ids: delete(RequestLog).where(RequestLog.id.in_(ids)), batch=BATCH)
    db.session.commit()
    return PruneResult(cutoff=cutoff, deleted=deleted, rollup=rolled)
