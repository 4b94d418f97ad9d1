"""One aggregation engine for usage buckets and endpoint rows.

A read over [since, until) is split: complete hours before the rollup watermark come from
the rollups (request_route_rollups, or request_rollups for a key filter; only when the
range is longer than ANALYTICS_ROLLUP_MIN_HOURS), the rest from raw request_logs. Counts
are exact either way. Percentiles are exact when only raw rows are read (percentile_cont
on PostgreSQL, the same interpolation in Python on SQLite) and histogram estimates when
rollups take part.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import case, func, select

from extensions import db
from models.analytics import HIST_COLUMNS, RequestRollup, RequestRouteRollup
from models.audit import RequestLog
from services.analytics import histogram as hg
from services.analytics.scope import (
    DAY,
    HOUR,
    Scope,
    ceil_hour,
    floor_to,
    rollup_min_hours,
    to_datetime,
    trunc_expr,
)

Dimension = Literal["hour", "day", "endpoint"]


@dataclass
class Agg:
    """Counts and latency of one group (a time bucket or a method + route)."""

    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    rate_limited: int = 0
    latency_sum_ms: float = 0.0
    latency_max_ms: float = 0.0
    hist: dict[int, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p95_ms: float | None = None

    def add_counts(self, count: int, e4: int, e5: int, rl: int, lsum: float,
                   lmax: float) -> None:
        self.requests += int(count or 0)
        self.errors_4xx += int(e4 or 0)
        self.errors_5xx += int(e5 or 0)
        self.rate_limited += int(rl or 0)
        self.latency_sum_ms += float(lsum or 0.0)
        self.latency_max_ms = max(self.latency_max_ms, float(lmax or 0.0))

    def add_bucket(self, bucket: int, count: int) -> None:
        if count:
            self.hist[bucket] = self.hist.get(bucket, 0) + int(count)

    def finish_from_histogram(self) -> None:
        self.p50_ms = hg.percentile_from_histogram(self.hist, 0.5, self.latency_max_ms)
        self.p95_ms = hg.percentile_from_histogram(self.hist, 0.95, self.latency_max_ms)


def status_sums(status: Any) -> list[Any]:
    """4xx includes 429; rate_limited is the 429 subset."""
    return [
        func.sum(case((status.between(400, 499), 1), else_=0)),
        func.sum(case((status >= 500, 1), else_=0)),
        func.sum(case((status == 429, 1), else_=0)),
    ]


def _raw_dims(dim: Dimension) -> tuple[list[Any], Callable[[tuple], Hashable]]:
    if dim == "endpoint":
        return [RequestLog.method, RequestLog.route], lambda r: (r[0], r[1])
    step = DAY if dim == "day" else HOUR
    return [trunc_expr(RequestLog.created_at, step)], lambda r: to_datetime(r[0])


def _rollup_dims(r: Any, dim: Dimension) -> tuple[list[Any], Callable[[tuple], Hashable]]:
    if dim == "endpoint":
        return [r.method, r.route], lambda row: (row[0], row[1])
    if dim == "day":
        return [trunc_expr(r.hour, DAY)], lambda row: to_datetime(row[0])
    return [r.hour], lambda row: to_datetime(row[0])


@dataclass
class Plan:
    rollup: tuple[datetime | None, datetime] | None
    raw: list[tuple[datetime | None, datetime | None]]


def plan(scope: Scope, watermark: datetime | None) -> Plan:
    """Which part of the range rollups answer; everything else is read raw."""
    since, until = scope.since, scope.until
    span = None if since is None or until is None else until - since
    long_range = span is None or span > timedelta(hours=rollup_min_hours())
    if watermark is None or until is None or not long_range:
        return Plan(rollup=None, raw=[(since, until)])
    r_start = ceil_hour(since) if since is not None else None
    r_end = min(floor_to(until, HOUR), watermark)
    if r_start is not None and r_end <= r_start:
        return Plan(rollup=None, raw=[(since, until)])
    raw: list[tuple[datetime | None, datetime | None]] = []
    if since is not None and since < r_start:  # type: ignore[operator]
        raw.append((since, r_start))
    if r_end < until:
        raw.append((r_end, until))
    return Plan(rollup=(r_start, r_end), raw=raw)


def collect(scope: Scope, dim: Dimension, watermark: datetime | None
            ) -> tuple[dict[Hashable, Agg], bool]:
    """Aggregates per group and whether percentiles are exact."""
    p = plan(scope, watermark)
    groups: dict[Hashable, Agg] = {}
    if p.rollup is None:
        _raw_exact(scope, dim, groups)
        return groups, True
    _rollups(scope.between(*p.rollup), dim, groups)
    for since, until in p.raw:
        _raw_histograms(scope.between(since, until), dim, groups)
    for agg in groups.values():
        agg.finish_from_histogram()
    return groups, False


def _raw_exact(scope: Scope, dim: Dimension, groups: dict[Hashable, Agg]) -> None:
    dims, key_of = _raw_dims(dim)
    lat = RequestLog.latency_ms
    cols = [*dims, func.count(), *status_sums(RequestLog.status), func.sum(lat), func.max(lat)]
    pg = db.engine.dialect.name == "postgresql"
    if pg:
        cols += [func.percentile_cont(0.5).within_group(lat),
                 func.percentile_cont(0.95).within_group(lat)]
    stmt = select(*cols).where(*scope.criteria(RequestLog)).group_by(*dims)
    n = len(dims)
    for row in db.session.execute(stmt):
        agg = groups.setdefault(key_of(row), Agg())
        agg.add_counts(*row[n:n + 6])
        if pg:
            agg.p50_ms, agg.p95_ms = _float(row[n + 6]), _float(row[n + 7])
    if pg:
        return
    # SQLite has no percentile_cont: stream sorted latencies per group instead.
    stmt = (select(*dims, lat).where(*scope.criteria(RequestLog))
            .order_by(*dims, lat).execution_options(yield_per=5000))
    current: Hashable = object()
    values: list[float] = []

    def flush() -> None:
        if values:
            agg = groups[current]
            agg.p50_ms = hg.percentile_cont(values, 0.5)
            agg.p95_ms = hg.percentile_cont(values, 0.95)

    for row in db.session.execute(stmt):
        key = key_of(row)
        if key != current:
            flush()
            current, values = key, []
        values.append(float(row[n]))
    flush()


def raw_histogram_stmt(scope: Scope, dims: list[Any]) -> Any:
    """Raw rows grouped by `dims` and latency bucket: what rollups store, built in SQL."""
    lat = RequestLog.latency_ms
    bucket = hg.bucket_case(lat).label("bucket")
    return (select(*dims, bucket, func.count(), *status_sums(RequestLog.status),
                   func.sum(lat), func.max(lat))
            .where(*scope.criteria(RequestLog)).group_by(*dims, bucket))


def _raw_histograms(scope: Scope, dim: Dimension, groups: dict[Hashable, Agg]) -> None:
    dims, key_of = _raw_dims(dim)
    n = len(dims)
    for row in db.session.execute(raw_histogram_stmt(scope, dims)):
        agg = groups.setdefault(key_of(row), Agg())
        bucket, count = int(row[n]), int(row[n + 1])
        agg.add_counts(count, *row[n + 2:n + 7])
        agg.add_bucket(bucket, count)


def _rollups(scope: Scope, dim: Dimension, groups: dict[Hashable, Agg]) -> None:
    """Sum rollup rows per group in SQL, histogram buckets included (one column each), so
    a 30-day read is one grouped scan of the organization's rollups and a few hundred
    rows back, whatever the raw log holds. Without a key filter the rows without the key
    split are summed: as many times fewer as the organization has keys."""
    r = RequestRollup if scope.api_key_id is not None else RequestRouteRollup
    dims, key_of = _rollup_dims(r, dim)
    n = len(dims)
    stmt = (select(*dims, func.sum(r.count), func.sum(r.errors_4xx), func.sum(r.errors_5xx),
                   func.sum(r.rate_limited), func.sum(r.latency_sum_ms),
                   func.max(r.latency_max_ms),
                   *[func.sum(getattr(r, name)) for name in HIST_COLUMNS])
            .where(*scope.criteria(r, r.hour)).group_by(*dims))
    for row in db.session.execute(stmt):
        agg = groups.setdefault(key_of(row), Agg())
        agg.add_counts(*row[n:n + 6])
        for bucket, count in enumerate(row[n + 6:]):
            agg.add_bucket(bucket, count)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
