"""`/analytics/logs/`: newest first, keyset pages, filters, CSV export."""
from __future__ import annotations

import csv
import io

from tests.analytics.conftest import LIST, ONE, SINCE, UNTIL

RANGE = {"since": SINCE, "until": UNTIL}


def _all_pages(tenant, **params) -> list[dict]:  # noqa: ANN001, ANN003
    items, cursor = [], None
    while True:
        qs = {**RANGE, **params, **({"cursor": cursor} if cursor else {})}
        resp = tenant.get("/analytics/logs/", query_string=qs)
        assert resp.status_code == 200, resp.json
        items += resp.json["items"]
        cursor = resp.json["next_cursor"]
        if cursor is None:
            return items


def test_logs_are_newest_first_in_stable_pages(traffic):
    first = traffic.a.get("/analytics/logs/", query_string={**RANGE, "limit": 4}).json
    assert len(first["items"]) == 4 and first["next_cursor"]
    items = _all_pages(traffic.a, limit=4)
    assert [i["created_at"] for i in items] == [
        "2025-03-10T13:15:00Z", "2025-03-10T11:30:00Z", "2025-03-10T11:10:00Z",
        "2025-03-10T11:00:00Z", "2025-03-10T10:59:59Z", "2025-03-10T10:40:00Z",
        "2025-03-10T10:30:00Z", "2025-03-10T10:20:00Z", "2025-03-10T10:05:00Z"]
    assert items[:4] == first["items"]
    assert {i["organization_id"] for i in items} == {traffic.a.org_id}
    top = items[0]
    assert top["api_key_id"] == traffic.a2_key_id and top["route"] == LIST
    assert top["status"] == 200 and top["latency_ms"] == 50.0
    assert set(top) == {"id", "created_at", "organization_id", "api_key_id", "method",
                        "route", "path", "status", "latency_ms", "request_id", "client_ip"}


def test_log_filters(traffic):
    def statuses(**params) -> list[int]:  # noqa: ANN003
        return [i["status"] for i in _all_pages(traffic.a, **params)]

    assert statuses(status="4xx") == [429, 404]
    assert statuses(status="500") == [500]
    assert statuses(status="5xx") == [500]
    assert statuses(method="post") == [201, 201]
    assert statuses(path="/api/v1/assistants/asst_") == [404]
    assert statuses(route=ONE) == [404]
    assert statuses(api_key_id=traffic.a2_key_id) == [200, 201, 200]
    assert statuses(since="2025-03-10T11:00:00Z", until="2025-03-10T11:30:00Z") == [500, 429]
    assert statuses(path="100%_not_a_wildcard") == []
    bad = traffic.a.get("/analytics/logs/", query_string={"status": "6xx"})
    assert bad.status_code == 422
    assert traffic.a.get("/analytics/logs/", query_string={"cursor": "zz"}).status_code == 422


def test_the_callers_own_requests_are_logged_too(traffic):
    """A keyed analytics call is itself a request-log row (filtered out above by time)."""
    traffic.a.get("/analytics/usage/", query_string=RANGE)
    recent = traffic.a.get("/analytics/logs/", query_string={
        "path": "/analytics/usage/"}).json["items"]
    assert len(recent) == 1
    assert recent[0]["route"] == "/analytics/usage/" and recent[0]["status"] == 200
    assert recent[0]["api_key_id"] == traffic.a.key_id


def test_csv_export_streams_every_matching_row(traffic):
    resp = traffic.a.get("/analytics/logs/", query_string={**RANGE, "format": "csv",
                                                            "limit": 2})
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert len(rows) == 9  # the export ignores paging
    assert rows[0]["created_at"] == "2025-03-10T13:15:00Z"
    assert rows[0]["api_key_id"] == traffic.a2_key_id
    assert [r["status"] for r in rows].count("201") == 2
    assert {r["organization_id"] for r in rows} == {traffic.a.org_id}
    assert list(rows[0]) == ["id", "created_at", "organization_id", "api_key_id", "method",
                             "route", "path", "status", "latency_ms", "request_id",
                             "client_ip"]
    only_5xx = traffic.a.get("/analytics/logs/", query_string={
        **RANGE, "format": "csv", "status": "5xx"}).get_data(as_text=True)
    assert only_5xx.strip().splitlines()[1].split(",")[7] == "500"
    assert len(only_5xx.strip().splitlines()) == 2
