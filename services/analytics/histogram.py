"""Latency percentiles: exact (linear interpolation, like PostgreSQL's percentile_cont) on
raw rows, approximate from a fixed log-spaced histogram on rollups.

Bucket i holds latencies in [BOUNDS[i-1], BOUNDS[i]) (bucket 0 starts at 0, the last
bucket is open-ended); consecutive bounds differ by 25%, so an approximate percentile is
within 25% of the true value.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import case, literal_column

from models.analytics import HIST_BUCKETS

RATIO = 1.25
FIRST_BOUND_MS = 0.25
# 0.25 ms … ~5 min; anything slower lands in the open-ended last bucket.
# One bound fewer than request_rollups has bucket columns: the last bucket is open-ended.
BOUNDS: tuple[float, ...] = tuple(round(FIRST_BOUND_MS * RATIO**i, 6)
                                  for i in range(HIST_BUCKETS - 1))
OVERFLOW = len(BOUNDS)


def bucket_of(latency_ms: float) -> int:
    """Index of the bucket holding this latency (same rule as `bucket_case`)."""
    return bisect_right(BOUNDS, latency_ms)


def bucket_range(index: int, max_ms: float | None = None) -> tuple[float, float]:
    """[low, high) of a bucket; the open last bucket ends at the observed maximum."""
    low = 0.0 if index == 0 else BOUNDS[index - 1]
    high = BOUNDS[index] if index < OVERFLOW else max(max_ms or low, low)
    return low, high


def bucket_case(column: Any) -> Any:
    """SQL expression giving a row's bucket index, so the database builds histograms."""
    # Inline literals, not bound parameters: the expression also appears in GROUP BY, and
    # PostgreSQL only matches it there when the SQL text is identical.
    return case(*[(column < literal_column(repr(bound)), literal_column(str(i)))
                  for i, bound in enumerate(BOUNDS)], else_=literal_column(str(OVERFLOW)))


def percentile_cont(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Exactly PostgreSQL's percentile_cont: linear interpolation between the rows at
    floor and ceil of fraction * (n - 1). `sorted_values` must be ascending."""
    n = len(sorted_values)
    if n == 0:
        return None
    position = fraction * (n - 1)
    first = math.floor(position)
    second = math.ceil(position)
    lo, hi = float(sorted_values[first]), float(sorted_values[second])
    if first == second:
        return lo
    return lo + (hi - lo) * (position - first)


def histogram_of(values: Iterable[float]) -> dict[int, int]:
    hist: dict[int, int] = {}
    for v in values:
        idx = bucket_of(v)
        hist[idx] = hist.get(idx, 0) + 1
    return hist


def percentile_from_histogram(hist: Mapping[int, int], fraction: float,
                              max_ms: float | None = None) -> float | None:
    """Approximate percentile_cont: the rows at floor and ceil of fraction * (n - 1) are
    each placed inside their bucket by rank, then interpolated linearly like the exact
    version, so every estimate stays within one bucket's 25% of the true value."""
    total = sum(hist.values())
    if total == 0:
        return None
    position = fraction * (total - 1)
    first, second = math.floor(position), math.ceil(position)
    lo = _value_at(hist, first, max_ms)
    if first == second:
        return lo
    hi = _value_at(hist, second, max_ms)
    return lo + (hi - lo) * (position - first)


def _value_at(hist: Mapping[int, int], rank: int, max_ms: float | None) -> float:
    """Estimated value of the row at 0-based `rank`, spread evenly inside its bucket."""
    seen = 0
    for idx in sorted(hist):
        count = hist[idx]
        if count <= 0:
            continue
        if rank < seen + count:
            low, high = bucket_range(idx, max_ms)
            estimate = low + (high - low) * ((rank - seen) + 0.5) / count
            return min(estimate, max_ms) if max_ms is not None else estimate
        seen += count
    raise ValueError("rank outside the histogram")  # pragma: no cover
