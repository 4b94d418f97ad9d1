"""Hourly rollups give the raw rows' counts, percentiles within histogram resolution, and
keep usage answering after retention has pruned the raw rows."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.analytics.conftest import LIST, SINCE, UNTIL, at

RANGE = {"since": SINCE, "until": UNTIL}
AFTER_SEED = at(15, 10)  # rollups seal [10:00, 15:00) at this "now" (5 min grace)
COUNTS = ("requests", "errors_4xx", "errors_5xx", "rate_limited")


def _roll(app):  # noqa: ANN001, ANN202
    from services.analytics.rollups import roll_up

    with app.app_context():
        return roll_up(now=AFTER_SEED)


def _counts(body: dict) -> list[tuple]:
    return [tuple(b[c] for c in COUNTS) for b in body["buckets"]]


def _within_resolution(approx: float | None, exact: float | None) -> bool:
    """Same histogram bucket (±25%) as the exact value."""
    from services.analytics.histogram import RATIO

    if exact is None:
        return approx is None
    return exact / RATIO <= approx <= exact * RATIO


def test_rollup_job_folds_complete_hours_once(app, traffic):
    result = _roll(app)
    assert result.rolled_until == at(15)
    assert result.hours == 5 and result.rows == 9  # 7 (org, key, hour, method, route) of A, 2 of B
    from sqlalchemy import func, select

    from extensions import db
    from models.analytics import RequestRollup

    with app.app_context():
        rows = db.session.execute(select(RequestRollup).where(
            RequestRollup.org_id == traffic.a.org_id, RequestRollup.hour == at(11),
            RequestRollup.method == "GET", RequestRollup.api_key_id == traffic.a.key_id)
        ).scalars().all()
        assert len(rows) == 1
        r = rows[0]
        assert (r.route, r.count, r.errors_4xx, r.errors_5xx, r.rate_limited) == (
            LIST, 2, 1, 1, 1)
        assert r.latency_sum_ms == 1201.0 and r.latency_max_ms == 1200.0
        assert sum(r.histogram().values()) == 2
        total = db.session.execute(select(func.sum(RequestRollup.count))).scalar_one()
        assert total == 11
    again = _roll(app)  # idempotent: nothing new to fold
    assert (again.hours, again.rows, again.rolled_until) == (0, 0, at(15))


@pytest.mark.parametrize("params", [
    {**RANGE, "interval": "hour"},
    {"since": "2025-03-10T10:30:00Z", "until": "2025-03-10T13:30:00Z", "interval": "hour"},
    {"since": "2025-03-09T00:00:00Z", "until": "2025-03-12T00:00:00Z", "interval": "day"},
])
def test_rollups_give_the_same_counts_as_raw_rows(app, traffic, rollup_threshold, params):
    rollup_threshold(10_000)
    raw = traffic.a.get("/analytics/usage/", query_string=params).json
    assert raw["percentiles"] == "exact"
    _roll(app)
    rollup_threshold(0)
    rolled = traffic.a.get("/analytics/usage/", query_string=params).json
    assert rolled["percentiles"] == "approximate"
    assert _counts(rolled) == _counts(raw)
    assert rolled["totals"] == raw["totals"]
    for a, b in zip(rolled["buckets"], raw["buckets"], strict=True):
        assert _within_resolution(a["p50_ms"], b["p50_ms"]), (a, b)
        assert _within_resolution(a["p95_ms"], b["p95_ms"]), (a, b)


def test_endpoints_from_rollups_match_raw(app, traffic, rollup_threshold):
    rollup_threshold(10_000)
    raw = traffic.platform("/analytics/endpoints/", query_string=RANGE).json
    _roll(app)
    rollup_threshold(0)
    rolled = traffic.platform("/analytics/endpoints/", query_string=RANGE).json
    strip = ("p50_ms", "p95_ms")
    assert [{k: v for k, v in i.items() if k not in strip} for i in rolled["items"]] == \
        [{k: v for k, v in i.items() if k not in strip} for i in raw["items"]]
    assert rolled["total"] == raw["total"] == 11
    for a, b in zip(rolled["items"], raw["items"], strict=True):
        assert _within_resolution(a["p50_ms"], b["p50_ms"])


def test_rollup_percentiles_equal_the_histogram_of_the_raw_rows(app, traffic,
                                                                rollup_threshold):
    """Element-wise sums of the bucket columns are the raw rows' own histogram: the
    rolled-up answer equals percentile_from_histogram over the raw latencies, exactly."""
    from sqlalchemy import select

    from extensions import db
    from models.audit import RequestLog
    from services.analytics import histogram as hg

    _roll(app)
    rollup_threshold(0)
    body = traffic.a.get("/analytics/endpoints/", query_string=RANGE).json
    with app.app_context():
        rows = db.session.execute(select(RequestLog.method, RequestLog.route,
                                         RequestLog.latency_ms)
                                  .where(RequestLog.org_id == traffic.a.org_id)).all()
    assert body["items"]
    for item in body["items"]:
        values = [r.latency_ms for r in rows
                  if (r.method, r.route) == (item["method"], item["route"])]
        hist = hg.histogram_of(values)
        assert item["requests"] == len(values)
        assert item["p50_ms"] == pytest.approx(
            hg.percentile_from_histogram(hist, 0.5, max(values)), abs=1e-3)
        assert item["p95_ms"] == pytest.approx(
            hg.percentile_from_histogram(hist, 0.95, max(values)), abs=1e-3)


def test_raw_rows_after_the_watermark_still_count(app, traffic, rollup_threshold):
    """An hour not sealed yet is read raw even when older hours come from rollups."""
    from sqlalchemy import insert

    from extensions import db
    from models.audit import RequestLog
    from services.analytics.rollups import roll_up

    with app.app_context():
        roll_up(now=at(12, 10))  # seals [10:00, 12:00) only
    rollup_threshold(0)
    body = traffic.a.get("/analytics/usage/", query_string=RANGE).json
    assert [b["requests"] for b in body["buckets"]] == [5, 3, 0, 1]
    with app.app_context():
        db.session.execute(insert(RequestLog), [{
            "org_id": traffic.a.org_id, "api_key_id": traffic.a.key_id, "method": "GET",
            "route": LIST, "path": LIST, "status": 200, "latency_ms": 12.0,
            "request_id": "req_late", "client_ip": None, "created_at": at(12, 30)}])
        db.session.commit()
    body = traffic.a.get("/analytics/usage/", query_string=RANGE).json
    assert [b["requests"] for b in body["buckets"]] == [5, 3, 1, 1]


def test_prune_keeps_rollups_and_usage_still_answers(app, traffic):
    from sqlalchemy import func, select

    from extensions import db
    from models.audit import RequestLog
    from services.analytics.retention import prune

    day_range = {"interval": "day", "since": "2025-03-08T00:00:00Z",
                 "until": "2025-03-12T00:00:00Z"}  # 96 h: longer than the 48 h threshold
    before = traffic.a.get("/analytics/usage/", query_string=day_range).json
    with app.app_context():
        result = prune(now=AFTER_SEED + timedelta(days=90), retention_days=90)
        assert result.deleted == 11
        assert result.rollup.rolled_until is not None
        left = db.session.execute(select(func.count()).select_from(RequestLog).where(
            RequestLog.created_at < at(15))).scalar_one()
        assert left == 0
    assert traffic.a.get("/analytics/logs/", query_string=RANGE).json["items"] == []
    after = traffic.a.get("/analytics/usage/", query_string=day_range).json
    assert _counts(after) == _counts(before) == [(0, 0, 0, 0), (0, 0, 0, 0), (9, 2, 1, 1),
                                                 (0, 0, 0, 0)]
    ends = traffic.a.get("/analytics/endpoints/", query_string={
        "since": "2025-03-08T00:00:00Z", "until": "2025-03-12T00:00:00Z"}).json
    assert ends["total"] == 9


def test_prune_never_deletes_rows_newer_than_the_cutoff(app, traffic):
    from services.analytics.retention import prune

    with app.app_context():
        # Retention of 90 days measured from the seeding day: nothing is old enough.
        assert prune(now=AFTER_SEED, retention_days=90).deleted == 0
        # Cutoff 11:00 → only the five A rows and one B row before it go.
        assert prune(now=at(11) + timedelta(days=1), retention_days=1).deleted == 6
    remaining = traffic.a.get("/analytics/logs/", query_string=RANGE).json["items"]
    assert len(remaining) == 4


def test_cli_rollup_and_prune_print_json(app, traffic):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["analytics", "rollup"])
    assert out.exit_code == 0, out.output
    rolled = json.loads(out.output)
    assert rolled["rows"] >= 9 and rolled["rolled_until"].endswith(":00:00Z")
    out = runner.invoke(args=["analytics", "prune", "--days", "0"])
    assert out.exit_code == 0, out.output
    pruned = json.loads(out.output)
    assert pruned["deleted"] >= 11
    assert runner.invoke(args=["analytics", "prune", "--days", "-1"]).exit_code != 0


def test_rollup_and_prune_run_as_jobs(app, traffic, run_jobs):
    from sqlalchemy import func, select

    from extensions import db
    from services.jobs import enqueue
    from models.analytics import RequestRollup
    from models.jobs import Job

    with app.app_context():
        job_id = enqueue(traffic.a.org_id, "analytics_rollup").id
    run_jobs()
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert (job.status, job.progress, job.error) == ("succeeded", 100, None)
        assert db.session.execute(select(func.sum(RequestRollup.count))).scalar_one() >= 11
        prune_id = enqueue(traffic.a.org_id, "analytics_prune",
                           params={"retention_days": 0}).id
    run_jobs()
    with app.app_context():
        assert db.session.get(Job, prune_id).status == "succeeded"
    assert traffic.a.get("/analytics/logs/", query_string=RANGE).json["items"] == []


@pytest.mark.parametrize("path, params", [
    ("/analytics/usage/", {**RANGE, "interval": "hour"}),
    ("/analytics/usage/", {**RANGE, "interval": "day"}),
    ("/analytics/endpoints/", RANGE),
])
def test_reads_with_and_without_a_key_filter_sum_the_matching_rollup(
        app, traffic, rollup_threshold, path, params):
    """Without a key filter the rollup without the key split answers, with one the per-key
    rollup: both give exactly the raw rows' counts, and the two tables hold the same
    totals per (org, hour, method, route)."""
    from sqlalchemy import func, select

    from extensions import db
    from models.analytics import HIST_COLUMNS, RequestRollup, RequestRouteRollup

    def read(**extra):  # noqa: ANN003, ANN202
        return traffic.a.get(path, query_string={**params, **extra}).json

    rollup_threshold(10_000)
    raw_all, raw_key = read(), read(api_key_id=traffic.a2_key_id)
    _roll(app)
    rollup_threshold(0)
    rolled_all, rolled_key = read(), read(api_key_id=traffic.a2_key_id)
    assert rolled_all.get("percentiles", "approximate") == "approximate"
    for rolled, raw in ((rolled_all, raw_all), (rolled_key, raw_key)):
        items = "buckets" if "buckets" in raw else "items"
        strip = ("p50_ms", "p95_ms", "latency_avg_ms")
        assert [{k: v for k, v in i.items() if k not in strip} for i in rolled[items]] == \
            [{k: v for k, v in i.items() if k not in strip} for i in raw[items]]
    assert rolled_key != rolled_all  # the filter really narrowed the read
    with app.app_context():
        def totals(model):  # noqa: ANN001, ANN202
            columns = [func.sum(getattr(model, c)) for c in ("count", "errors_4xx",
                                                            *HIST_COLUMNS)]
            return db.session.execute(
                select(model.org_id, model.hour, model.method, model.route, *columns)
                .group_by(model.org_id, model.hour, model.method, model.route)
                .order_by(model.org_id, model.hour, model.method, model.route)).all()

        per_route = db.session.execute(select(func.count()).select_from(
            RequestRouteRollup)).scalar_one()
        per_key = db.session.execute(select(func.count()).select_from(
            RequestRollup)).scalar_one()
        assert per_route < per_key  # org A's two keys share (hour, route)s
        assert [tuple(r) for r in totals(RequestRouteRollup)] == \
            [tuple(r) for r in totals(RequestRollup)]
