"""Hourly request rollups: analytics stay fast after raw request logs grow or are pruned.

Not OrgScoped for the same reason as RequestLog: platform keys read across organizations,
so every query names its organization filter explicitly in services/analytics.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.types import UTCDateTime

_BigId = BigInteger().with_variant(Integer(), "sqlite")

# The latency histogram of a rollup row, one integer column per bucket of
# services.analytics.histogram (64 bounds + the open-ended last bucket): a 30-day read sums
# columns, which databases do fast; the sparse JSON histogram this replaced had to be
# unpacked row by row (issue 15: 0.3–0.45 s over 10M rows).
HIST_BUCKETS = 65
HIST_COLUMNS: tuple[str, ...] = tuple(f"h{i:02d}" for i in range(HIST_BUCKETS))
_LatencyHistogram = type("_LatencyHistogram", (), {
    name: mapped_column(Integer, nullable=False, default=0, server_default="0")
    for name in HIST_COLUMNS})


class _HourTotals(_LatencyHistogram):
    """What every rollup row holds for its hour: counts plus the latency histogram
    (columns h00…h64: requests per bucket of services.analytics.histogram)."""

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    org_id: Mapped[str | None] = mapped_column(String(40))
    hour: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    route: Mapped[str] = mapped_column(String(200), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    errors_4xx: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    errors_5xx: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rate_limited: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    latency_sum_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    latency_max_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)

    def histogram(self) -> dict[int, int]:
        """The sparse `{bucket: count}` form the percentile helpers take."""
        counts = (getattr(self, name) for name in HIST_COLUMNS)
        return {i: int(n) for i, n in enumerate(counts) if n}


class RequestRollup(_HourTotals, db.Model):
    """One complete UTC hour of one (org, key, method, route): what reads filtered by a
    key sum."""

    __tablename__ = "request_rollups"
    __table_args__ = (
        Index("ix_request_rollups_org_hour", "org_id", "hour"),
        Index("ix_request_rollups_org_key_hour", "org_id", "api_key_id", "hour"),
        Index("ix_request_rollups_hour", "hour"),
    )

    api_key_id: Mapped[str | None] = mapped_column(String(40))


class RequestRouteRollup(_HourTotals, db.Model):
    """The same hour of one (org, method, route) with every key together: what the reads
    without a key filter sum. Split by key, a 30-day read adds up as many rows again as
    the organization has keys, and summing 70 columns row by row is where its time went
    (issue 15: 60–90 ms of PostgreSQL aggregation over 30,000 rows of three keys)."""

    __tablename__ = "request_route_rollups"
    __table_args__ = (
        Index("ix_request_route_rollups_org_hour", "org_id", "hour"),
        Index("ix_request_route_rollups_hour", "hour"),
    )


class RollupState(db.Model):
    """The rollup watermark: every hour before `rolled_until` is in request_rollups, so
    readers take those hours from rollups and everything later from raw rows."""

    __tablename__ = "analytics_rollup_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    rolled_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
