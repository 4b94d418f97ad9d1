"""Timestamps in responses are formatted by pydantic-core (CPython's isoformat is slow on
the keyed hot path): the text must stay exactly what models.types.isoformat writes."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from api.schemas.common import timestamp_text
from models.types import isoformat


def test_timestamp_text_is_isoformat_with_z_for_every_kind_of_value():
    rng = random.Random(15)
    edges = [datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, 23, 59, 59, 999999),
             datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds: no fraction
             datetime(2026, 1, 2, 3, 4, 5, 10, tzinfo=UTC),
             datetime(2026, 1, 2, 3, 4, 5, 100000, tzinfo=UTC),
             datetime(2026, 1, 2, 3, 4, 5),  # naive: UTC
             datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=timezone(timedelta(hours=-12))),
             datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=5, minutes=30)))]
    span = int((datetime(9999, 1, 1) - datetime(2, 1, 1)).total_seconds() * 1e6)
    zones = [UTC, None, timezone(timedelta(hours=2)), timezone(timedelta(minutes=-90))]
    values = edges + [(datetime(2, 1, 1) + timedelta(microseconds=rng.randrange(span)))
                      .replace(tzinfo=rng.choice(zones)) for _ in range(5000)]
    for value in values:
        assert timestamp_text(value) == isoformat(value), value
