"""Percentile math: the Python interpolation is PostgreSQL's percentile_cont, the
histogram estimate stays within one bucket (25%), and SQL buckets equal Python's."""
from __future__ import annotations

import random

from services.analytics import histogram as hg


def test_percentile_cont_interpolates_linearly():
    assert hg.percentile_cont([], 0.5) is None
    assert hg.percentile_cont([7.0], 0.95) == 7.0
    assert hg.percentile_cont([1, 2, 3, 4], 0.5) == 2.5
    assert round(hg.percentile_cont([5, 10, 20, 30, 300], 0.95), 9) == 246.0
    assert round(hg.percentile_cont([1, 40, 1200], 0.95), 9) == 1084.0


def test_histogram_estimates_stay_within_one_bucket():
    rng = random.Random(7)
    for _ in range(200):
        values = sorted(rng.lognormvariate(3, 1.5) + 0.3 for _ in range(rng.randint(1, 60)))
        hist = hg.histogram_of(values)
        for fraction in (0.5, 0.95):
            exact = hg.percentile_cont(values, fraction)
            approx = hg.percentile_from_histogram(hist, fraction, max(values))
            assert exact / hg.RATIO <= approx <= exact * hg.RATIO, (values, fraction)


def test_sql_buckets_equal_python_buckets(app, tenant):
    """Latencies exactly on, just under and above bucket bounds land in the same bucket
    whichever side computes it."""
    from sqlalchemy import insert, select

    from extensions import db
    from models.audit import RequestLog
    from models.types import utcnow

    values = [0.0, 0.1, 0.25, 0.2499, 1.0, 3.0, 47.68, 1000.0, 250_000.0, 10_000_000.0]
    values += [hg.BOUNDS[i] for i in (0, 5, 30, 63)]
    with app.app_context():
        db.session.execute(insert(RequestLog), [{
            "org_id": tenant.org_id, "api_key_id": tenant.key_id, "method": "GET",
            "route": "/x", "path": "/x", "status": 200, "latency_ms": v,
            "request_id": f"req_{i:08d}", "client_ip": None, "created_at": utcnow()}
            for i, v in enumerate(values)])
        db.session.commit()
        rows = db.session.execute(select(RequestLog.latency_ms, hg.bucket_case(
            RequestLog.latency_ms)).where(RequestLog.org_id == tenant.org_id)).all()
    assert len(rows) == len(values)
    for latency, bucket in rows:
        assert int(bucket) == hg.bucket_of(latency), latency
