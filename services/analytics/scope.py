"""Who may read which rows, and the time arithmetic every analytics query shares.

Request logs are not OrgScoped (platform keys read across organizations), so the one
place that turns a caller into an organization filter is `resolve_org`: an org key is
pinned to its own organization whatever it asks for, and naming another organization is
a 404 exactly like naming one that does not exist.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, literal_column

from errors import NotFound, ValidationFailed
from extensions import db
from models.orgs import Organization

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
DEFAULT_ROLLUP_MIN_HOURS = 48
MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class Scope:
    """An analytics read: organization (None = every organization, platform keys only),
    optional key, and a half-open time range [since, until)."""

    org_id: str | None
    api_key_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def criteria(self, model: Any, time_column: Any | None = None) -> list[Any]:
        col = model.created_at if time_column is None else time_column
        out: list[Any] = []
        if self.org_id is not None:
            out.append(model.org_id == self.org_id)
        if self.api_key_id is not None:
            out.append(model.api_key_id == self.api_key_id)
        if self.since is not None:
            out.append(col >= self.since)
        if self.until is not None:
            out.append(col < self.until)
        return out

    def between(self, since: datetime | None, until: datetime | None) -> Scope:
        return replace(self, since=since, until=until)


def resolve_org(*, own_org_id: str | None, is_platform: bool,
                organization_id: str | None) -> str | None:
    """The organization an analytics call reads; None means all (platform key only)."""
    if not is_platform:
        if organization_id and organization_id != own_org_id:
            raise NotFound("Organization not found.")
        return own_org_id
    if organization_id is None:
        return None
    if len(organization_id) > 80 or db.session.get(Organization, organization_id) is None:
        raise NotFound("Organization not found.")
    return organization_id


# Filters outside these bounds are refused: they mean nothing for this product, and
# arithmetic on them (an offset, a bucket, a day added) overflows Python's datetime.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = f"Use a date-time from {EARLIEST.year} to {LATEST.year - 1}."


def as_utc(value: datetime | None) -> datetime | None:
    """Query strings without an offset are read as UTC."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-12:00 is past year 9999 in UTC
        raise ValueError(OUT_OF_RANGE) from None


def bounded_utc(value: datetime) -> datetime:
    """A filter date-time in UTC, refused (ValueError → 422) outside EARLIEST..LATEST."""
    value = as_utc(value)
    if not EARLIEST <= value < LATEST:
        raise ValueError(OUT_OF_RANGE)
    return value


def check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise ValidationFailed({"since": ["Must be earlier than until."]})


def floor_to(value: datetime, step: timedelta) -> datetime:
    value = value.astimezone(UTC)
    if step == DAY:
        return value.replace(hour=0, minute=0, second=0, microsecond=0)
    return value.replace(minute=0, second=0, microsecond=0)


def ceil_hour(value: datetime) -> datetime:
    floored = floor_to(value, HOUR)
    return floored if floored == value else floored + HOUR


def bucket_starts(since: datetime, until: datetime, step: timedelta) -> list[datetime]:
    """Every bucket touching [since, until), empty ones included."""
    count = int((until - floor_to(since, step)) / step) + 1
    if count > MAX_BUCKETS:
        raise ValidationFailed({"interval": [f"At most {MAX_BUCKETS} buckets; use a "
                                             "larger interval or a shorter range."]})
    start, out = floor_to(since, step), []
    while start < until:
        out.append(start)
        start += step
    return out


def trunc_expr(column: Any, step: timedelta) -> Any:
    """SQL truncation of a timestamp column to the hour or the UTC day (literal units, so
    the same text can appear in SELECT and GROUP BY on PostgreSQL)."""
    if db.engine.dialect.name == "postgresql":
        unit = "'day'" if step == DAY else "'hour'"
        return func.date_trunc(literal_column(unit), column)
    fmt = "'%Y-%m-%d 00:00:00'" if step == DAY else "'%Y-%m-%d %H:00:00'"
    return func.strftime(literal_column(fmt), column)


def to_datetime(value: Any) -> datetime:
    """A truncated timestamp from either dialect (SQLite returns text) as aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rollup_min_hours() -> float:
    """Ranges longer than this read complete past hours from rollups."""
    return float(current_app.config.get("ANALYTICS_ROLLUP_MIN_HOURS",
                                        DEFAULT_ROLLUP_MIN_HOURS))
