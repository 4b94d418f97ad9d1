"""The analytics reads behind /analytics/ and the console charts."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select

from errors import ValidationFailed
from extensions import db
from models.audit import RateLimitEvent, RequestLog
from models.types import isoformat, utcnow
from services.analytics.aggregate import Agg, collect
from services.analytics.rollups import watermark
from services.analytics.scope import DAY, HOUR, Scope, bucket_starts
from services.csv_text import csv_safe, drain
from services.pagination import Page, paginate

DEFAULT_ENDPOINTS_DAYS = 30
CSV_BATCH = 2000
CSV_COLUMNS = ("id", "created_at", "organization_id", "api_key_id", "method", "route", "path",
               "status", "latency_ms", "request_id", "client_ip")


@dataclass(frozen=True)
class LogFilters:
    status: str | None = None  # "404", or a class such as "4xx"
    method: str | None = None
    path: str | None = None  # prefix
    route: str | None = None


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def logs_statement(scope: Scope, filters: LogFilters) -> Select:
    stmt = select(RequestLog).where(*scope.criteria(RequestLog))
    if filters.status:
        if filters.status.endswith("xx"):
            low = int(filters.status[0]) * 100
            stmt = stmt.where(RequestLog.status.between(low, low + 99))
        else:
            stmt = stmt.where(RequestLog.status == int(filters.status))
    if filters.method:
        stmt = stmt.where(RequestLog.method == filters.method.upper())
    if filters.path:
        stmt = stmt.where(RequestLog.path.like(_escape_like(filters.path) + "%", escape="\\"))
    if filters.route:
        stmt = stmt.where(RequestLog.route == filters.route)
    return stmt


def list_logs(scope: Scope, filters: LogFilters, *, limit: int, cursor: str | None) -> Page:
    """Newest first, keyset cursor on (created_at, id)."""
    return paginate(logs_statement(scope, filters), RequestLog, limit=limit, cursor=cursor)


def log_dict(row: RequestLog) -> dict[str, Any]:
    return {"id": row.id, "created_at": row.created_at, "organization_id": row.org_id,
            "api_key_id": row.api_key_id, "method": row.method, "route": row.route,
            "path": row.path, "status": row.status, "latency_ms": row.latency_ms,
            "request_id": row.request_id, "client_ip": row.client_ip}


def iter_logs_csv(scope: Scope, filters: LogFilters) -> Iterator[str]:
    """Every matching row, newest first, fetched in keyset batches so neither memory nor
    one long-running cursor grows with the export."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    yield drain(buf)
    base = logs_statement(scope, filters)
    after: tuple[datetime, int] | None = None
    while True:
        stmt = base
        if after is not None:
            stmt = stmt.where(or_(RequestLog.created_at < after[0],
                                  and_(RequestLog.created_at == after[0],
                                       RequestLog.id < after[1])))
        rows = db.session.execute(stmt.order_by(RequestLog.created_at.desc(),
                                                RequestLog.id.desc()).limit(CSV_BATCH)
                                  ).scalars().all()
        if not rows:
            return
        for row in rows:
            d = log_dict(row)
            d["created_at"] = isoformat(row.created_at)
            writer.writerow([csv_safe(d[c]) for c in CSV_COLUMNS])
        yield drain(buf)
        after = (rows[-1].created_at, rows[-1].id)
        db.session.expunge_all()


def default_range(since: datetime | None, until: datetime | None, span: timedelta,
                  now: datetime | None = None) -> tuple[datetime, datetime]:
    until = until or (now or utcnow())
    since = since or until - span
    if since >= until:
        raise ValidationFailed({"since": ["Must be earlier than until."]})
    return since, until


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _counts(agg: Agg) -> dict[str, int]:
    return {"requests": agg.requests, "errors_4xx": agg.errors_4xx,
            "errors_5xx": agg.errors_5xx, "rate_limited": agg.rate_limited}


def usage(scope: Scope, interval: str) -> dict[str, Any]:
    """Buckets over [since, until); empty buckets are present with zero counts and null
    percentiles (no latency was observed)."""
    step = DAY if interval == "day" else HOUR
    starts = bucket_starts(scope.since, scope.until, step)  # type: ignore[arg-type]
    groups, exact = collect(scope, "day" if step == DAY else "hour", watermark())
    total = Agg()
    buckets = []
    for start in starts:
        agg = groups.get(start) or Agg()
        total.add_counts(agg.requests, agg.errors_4xx, agg.errors_5xx, agg.rate_limited, 0, 0)
        buckets.append({"start": start, **_counts(agg), "p50_ms": _r(agg.p50_ms),
                        "p95_ms": _r(agg.p95_ms)})
    return {"interval": interval, "since": scope.since, "until": scope.until,
            "percentiles": "exact" if exact else "approximate", "totals": _counts(total),
            "buckets": buckets}


def endpoints(scope: Scope) -> dict[str, Any]:
    """Per method + route template, busiest first."""
    groups, exact = collect(scope, "endpoint", watermark())
    total = sum(a.requests for a in groups.values())
    items = []
    for (method, route), agg in groups.items():  # type: ignore[misc]
        errors = agg.errors_4xx + agg.errors_5xx
        items.append({"method": method, "route": route, **_counts(agg),
                      "error_rate": round(errors / agg.requests, 4) if agg.requests else 0.0,
                      "p50_ms": _r(agg.p50_ms), "p95_ms": _r(agg.p95_ms),
                      "share": round(agg.requests / total, 4) if total else 0.0})
    items.sort(key=lambda i: (-i["requests"], i["route"], i["method"]))
    return {"since": scope.since, "until": scope.until, "total": total,
            "percentiles": "exact" if exact else "approximate", "items": items}


def list_rate_limit_events(scope: Scope, *, limit: int, cursor: str | None) -> Page:
    stmt = select(RateLimitEvent).where(*scope.criteria(RateLimitEvent))
    return paginate(stmt, RateLimitEvent, limit=limit, cursor=cursor)


def rate_limit_totals(scope: Scope) -> list[dict[str, Any]]:
    """Refusals per key over the whole filtered range (not just the page)."""
    stmt = (select(RateLimitEvent.org_id, RateLimitEvent.api_key_id, func.count(),
                   func.max(RateLimitEvent.created_at))
            .where(*scope.criteria(RateLimitEvent))
            .group_by(RateLimitEvent.org_id, RateLimitEvent.api_key_id))
    out = [{"organization_id": org_id, "api_key_id": key_id, "count": int(n),
            "last_at": last} for org_id, key_id, n, last in db.session.execute(stmt)]
    out.sort(key=lambda r: (-r["count"], r["api_key_id"] or ""))
    return out


def rate_limit_event_dict(row: RateLimitEvent) -> dict[str, Any]:
    return {"id": row.id, "created_at": row.created_at, "organization_id": row.org_id,
            "api_key_id": row.api_key_id, "method": row.method, "path": row.path,
            "route": row.route, "client_ip": row.client_ip, "limit": row.limit,
            "request_id": row.request_id}
