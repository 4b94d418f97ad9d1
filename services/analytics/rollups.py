"""The hourly rollup: complete past hours of request_logs folded into request_rollups
(per key) and request_route_rollups (every key together).

Idempotent and resumable: a watermark row records the first hour not yet rolled up; each
run folds [watermark, now - grace) in chunks that skip empty stretches, committing the
rows and the advanced watermark together. The grace period leaves room for batched
request-log writers to flush before an hour is sealed.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from extensions import db
from models.analytics import HIST_COLUMNS, RequestRollup, RequestRouteRollup, RollupState
from models.audit import RequestLog
from models.types import isoformat, utcnow
from services.analytics.aggregate import Agg, raw_histogram_stmt
from services.analytics.scope import HOUR, Scope, floor_to, to_datetime, trunc_expr

STATE_NAME = "request_rollups"
ANALYZE_AFTER_ROWS = 10_000  # rows folded in one run
CHUNK = timedelta(hours=24)
DEFAULT_GRACE_SECONDS = 300


@dataclass
class RollupResult:
    rolled_until: datetime | None
    hours: int
    rows: int

    def as_dict(self) -> dict[str, object]:
        return {"rolled_until": isoformat(self.rolled_until), "hours": self.hours,
                "rows": self.rows}


def watermark() -> datetime | None:
    """First hour not yet in rollups (None: never rolled up)."""
    state = db.session.get(RollupState, STATE_NAME)
    return state.rolled_until if state is not None else None


def grace() -> timedelta:
    return timedelta(seconds=float(current_app.config.get("ANALYTICS_ROLLUP_GRACE_SECONDS",
                                                          DEFAULT_GRACE_SECONDS)))


def roll_up(now: datetime | None = None,
            progress: Callable[[int], None] | None = None) -> RollupResult:
    """Fold every complete hour before `now - grace` that is not rolled up yet."""
    target = floor_to((now or utcnow()) - grace(), HOUR)
    start = _locked_start(target)
    if start is None or start >= target:
        db.session.commit()
        return RollupResult(rolled_until=watermark(), hours=0, rows=0)
    first_start, hours, rows = start, 0, 0
    while start < target:
        nxt = db.session.execute(
            select(func.min(RequestLog.created_at))
            .where(RequestLog.created_at >= start, RequestLog.created_at < target)
        ).scalar_one_or_none()
        if nxt is None:
            start = target
            _set_watermark(start)
            db.session.commit()
            break
        chunk_start = max(start, floor_to(to_datetime(nxt), HOUR))
        chunk_end = min(chunk_start + CHUNK, target)
        rows += _fold(chunk_start, chunk_end)
        hours += int((chunk_end - chunk_start) / HOUR)
        start = chunk_end
        _set_watermark(start)
        db.session.commit()
        if progress is not None:
            done = (start - first_start) / (target - first_start)
            progress(int(100 * done))
        if start < target:
            # Re-take the lock; a concurrent run may have moved the watermark meanwhile.
            start = max(start, _locked_start(target) or start)
    if rows >= ANALYZE_AFTER_ROWS:
        _refresh_statistics()
    return RollupResult(rolled_until=start, hours=hours, rows=rows)


def _refresh_statistics() -> None:
    """After a large fold (a backfill, a first run over a month of logs) the planner's
    row estimates for the rollups are stale until autovacuum comes round: PostgreSQL then
    plans a 30-day read as a few dozen rows and sorts 30,000 on disk (96 ms against 60 ms
    measured). ANALYZE costs a few milliseconds."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text(
            f"ANALYZE {RequestRollup.__tablename__}, {RequestRouteRollup.__tablename__}"))
        db.session.commit()


def _locked_start(target: datetime) -> datetime | None:
    """Lock the watermark row (creating it at the first logged hour) and return it."""
    state = db.session.execute(
        select(RollupState).where(RollupState.name == STATE_NAME).with_for_update()
    ).scalar_one_or_none()
    if state is not None:
        return state.rolled_until
    first = db.session.execute(select(func.min(RequestLog.created_at))).scalar_one_or_none()
    begin = floor_to(to_datetime(first), HOUR) if first is not None else target
    db.session.add(RollupState(name=STATE_NAME, rolled_until=begin))
    try:
        db.session.commit()
    except IntegrityError:  # another worker created it first; use theirs
        db.session.rollback()
    state = db.session.execute(
        select(RollupState).where(RollupState.name == STATE_NAME).with_for_update()
    ).scalar_one()
    return state.rolled_until


def _set_watermark(value: datetime) -> None:
    state = db.session.get(RollupState, STATE_NAME)
    state.rolled_until = value


def _fold(since: datetime, until: datetime) -> int:
    """Replace the rollups of [since, until) with a fresh aggregate of the raw rows: per
    key in request_rollups, and every key together in request_route_rollups. Returns the
    per-key row count."""
    dims = [trunc_expr(RequestLog.created_at, HOUR), RequestLog.org_id, RequestLog.api_key_id,
            RequestLog.method, RequestLog.route]
    per_key: dict[tuple, Agg] = {}
    per_route: dict[tuple, Agg] = {}
    for row in db.session.execute(raw_histogram_stmt(Scope(None, since=since, until=until),
                                                     dims)):
        hour, org_id, key_id, method, route = to_datetime(row[0]), *row[1:5]
        bucket, count = int(row[5]), int(row[6])
        for agg in (per_key.setdefault((hour, org_id, key_id, method, route), Agg()),
                    per_route.setdefault((hour, org_id, method, route), Agg())):
            agg.add_counts(count, *row[7:12])
            agg.add_bucket(bucket, count)
    for model, groups, names in (
            (RequestRollup, per_key, ("hour", "org_id", "api_key_id", "method", "route")),
            (RequestRouteRollup, per_route, ("hour", "org_id", "method", "route"))):
        db.session.execute(delete(model).where(model.hour >= since, model.hour < until))
        if groups:
            db.session.execute(insert(model), [_row(dict(zip(names, key, strict=True)), agg)
                                               for key, agg in groups.items()])
    return len(per_key)


def _row(dims: dict[str, Any], agg: Agg) -> dict[str, Any]:
    """A rollup row (a bulk insert's dict, every bucket column present) from a group."""
    return {**dims, "count": agg.requests, "errors_4xx": agg.errors_4xx,
            "errors_5xx": agg.errors_5xx, "rate_limited": agg.rate_limited,
            "latency_sum_ms": agg.latency_sum_ms, "latency_max_ms": agg.latency_max_ms,
            **dict.fromkeys(HIST_COLUMNS, 0),
            **{HIST_COLUMNS[bucket]: n for bucket, n in agg.hist.items()}}
