"""`/analytics/usage/` and `/analytics/endpoints/` over known traffic: exact numbers."""
from __future__ import annotations

from tests.analytics.conftest import LIST, ONE, SINCE, UNTIL

RANGE = {"since": SINCE, "until": UNTIL}


def _bucket(start: str, requests: int, e4: int, e5: int, rl: int, p50, p95) -> dict:  # noqa: ANN001
    return {"start": start, "requests": requests, "errors_4xx": e4, "errors_5xx": e5,
            "rate_limited": rl, "p50_ms": p50, "p95_ms": p95}


def test_hourly_usage_of_an_org_has_exact_counts_percentiles_and_empty_buckets(traffic):
    resp = traffic.a.get("/analytics/usage/", query_string={**RANGE, "interval": "hour"})
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["percentiles"] == "exact"
    assert body["organization_id"] == traffic.a.org_id
    assert body["since"] == SINCE and body["until"] == UNTIL
    assert body["buckets"] == [
        # latencies 5, 10, 20, 30, 300 → p50 20; p95 = 30 + 270 * 0.8
        _bucket("2025-03-10T10:00:00Z", 5, 1, 0, 0, 20.0, 246.0),
        # latencies 1, 40, 1200 → p95 = 40 + 1160 * 0.9
        _bucket("2025-03-10T11:00:00Z", 3, 1, 1, 1, 40.0, 1084.0),
        _bucket("2025-03-10T12:00:00Z", 0, 0, 0, 0, None, None),
        _bucket("2025-03-10T13:00:00Z", 1, 0, 0, 0, 50.0, 50.0),
    ]
    assert body["totals"] == {"requests": 9, "errors_4xx": 2, "errors_5xx": 1,
                              "rate_limited": 1}


def test_usage_filtered_by_key_and_by_time(traffic):
    by_key = traffic.a.get("/analytics/usage/", query_string={
        **RANGE, "api_key_id": traffic.a2_key_id}).json
    assert [b["requests"] for b in by_key["buckets"]] == [1, 1, 0, 1]
    assert by_key["api_key_id"] == traffic.a2_key_id
    assert by_key["buckets"][0]["p50_ms"] == 30.0

    # [10:30, 11:00): 10:30 (30ms), 10:40 (404, 5ms), 10:59:59 (300ms); 11:00 is excluded.
    window = traffic.a.get("/analytics/usage/", query_string={
        "since": "2025-03-10T10:30:00Z", "until": "2025-03-10T11:00:00Z"}).json
    assert window["buckets"] == [_bucket("2025-03-10T10:00:00Z", 3, 1, 0, 0, 30.0, 273.0)]


def test_daily_usage_has_a_bucket_per_day_with_zeros(traffic):
    body = traffic.a.get("/analytics/usage/", query_string={
        "interval": "day", "since": "2025-03-08T00:00:00Z",
        "until": "2025-03-12T00:00:00Z"}).json
    assert [(b["start"], b["requests"]) for b in body["buckets"]] == [
        ("2025-03-08T00:00:00Z", 0), ("2025-03-09T00:00:00Z", 0),
        ("2025-03-10T00:00:00Z", 9), ("2025-03-11T00:00:00Z", 0)]
    assert body["totals"]["errors_5xx"] == 1


def test_default_ranges_are_24_hours_and_30_days(traffic):
    hourly = traffic.a.get("/analytics/usage/").json
    daily = traffic.a.get("/analytics/usage/", query_string={"interval": "day"}).json
    assert len(hourly["buckets"]) in (24, 25)  # 25 unless "now" is exactly on the hour
    assert len(daily["buckets"]) in (30, 31)
    assert sum(b["requests"] for b in daily["buckets"]) >= 1  # the hourly call just made


def test_endpoints_breakdown_for_an_org(traffic):
    body = traffic.a.get("/analytics/endpoints/", query_string=RANGE).json
    assert body["total"] == 9 and body["percentiles"] == "exact"
    assert body["items"] == [
        {"method": "GET", "route": LIST, "requests": 6, "errors_4xx": 1, "errors_5xx": 1,
         "rate_limited": 1, "error_rate": 0.3333, "p50_ms": 25.0, "p95_ms": 912.5,
         "share": 0.6667},
        {"method": "POST", "route": LIST, "requests": 2, "errors_4xx": 0, "errors_5xx": 0,
         "rate_limited": 0, "error_rate": 0.0, "p50_ms": 170.0, "p95_ms": 287.0,
         "share": 0.2222},
        {"method": "GET", "route": ONE, "requests": 1, "errors_4xx": 1, "errors_5xx": 0,
         "rate_limited": 0, "error_rate": 1.0, "p50_ms": 5.0, "p95_ms": 5.0,
         "share": 0.1111},
    ]


def test_percentiles_match_percentile_cont_computed_from_the_rows(traffic, app):
    """The endpoint's percentiles (percentile_cont on PostgreSQL, Python on SQLite) equal
    linear interpolation over the same rows read back from the database."""
    from sqlalchemy import select

    from extensions import db
    from models.audit import RequestLog
    from services.analytics.histogram import percentile_cont

    body = traffic.a.get("/analytics/endpoints/", query_string=RANGE).json
    with app.app_context():
        for item in body["items"]:
            values = sorted(db.session.execute(
                select(RequestLog.latency_ms).where(
                    RequestLog.org_id == traffic.a.org_id, RequestLog.method == item["method"],
                    RequestLog.route == item["route"], RequestLog.path != "/analytics/endpoints/")
            ).scalars())
            values = [v for v in values if v in (1, 5, 10, 20, 30, 40, 50, 300, 1200)]
            assert item["p50_ms"] == round(percentile_cont(values, 0.5), 3)
            assert item["p95_ms"] == round(percentile_cont(values, 0.95), 3)


def test_platform_key_reads_all_orgs_or_one(traffic):
    everything = traffic.platform("/analytics/usage/", query_string=RANGE).json
    assert everything["organization_id"] is None
    assert everything["totals"] == {"requests": 11, "errors_4xx": 2, "errors_5xx": 2,
                                    "rate_limited": 1}
    only_b = traffic.platform("/analytics/usage/", query_string={
        **RANGE, "organization_id": traffic.b.org_id}).json
    assert [b["requests"] for b in only_b["buckets"]] == [1, 1, 0, 0]
    assert only_b["buckets"][1]["errors_5xx"] == 1
    ends = traffic.platform("/analytics/endpoints/", query_string={
        **RANGE, "organization_id": traffic.b.org_id}).json
    assert [(i["method"], i["route"], i["requests"]) for i in ends["items"]] == [
        ("GET", LIST, 2)]


def test_invalid_queries_are_422(traffic):
    bad = [{"interval": "week"}, {"since": "yesterday"},
           {"since": UNTIL, "until": SINCE}, {"bogus": "1"}]
    for qs in bad:
        resp = traffic.a.get("/analytics/usage/", query_string=qs)
        assert resp.status_code == 422, qs
        assert resp.json["error"]["code"] == "validation_error"
    too_many = traffic.a.get("/analytics/usage/", query_string={
        "since": "2000-01-01T00:00:00Z", "until": UNTIL, "interval": "hour"})
    assert too_many.status_code == 422
