"""`/analytics/rate-limits/`: refused calls with who, what, where and when."""
from __future__ import annotations

from tests.analytics.conftest import LIST


def test_rate_limit_events_of_an_org_with_per_key_totals(traffic):
    body = traffic.a.get("/analytics/rate-limits/").json
    assert [e["id"] for e in body["items"]] == ["rle_a2", "rle_a1second", "rle_a1first"]
    first = body["items"][2]
    assert first == {
        "id": "rle_a1first", "created_at": "2025-03-10T11:00:00Z",
        "organization_id": traffic.a.org_id, "api_key_id": traffic.a.key_id,
        "method": "GET", "path": LIST, "route": LIST, "client_ip": "203.0.113.9",
        "limit": "100 per 1 hour", "request_id": "req_rle_a1first"}
    assert body["total"] == 3
    assert body["per_key"] == [
        {"organization_id": traffic.a.org_id, "api_key_id": traffic.a.key_id, "count": 2,
         "last_at": "2025-03-10T11:00:30Z"},
        {"organization_id": traffic.a.org_id, "api_key_id": traffic.a2_key_id, "count": 1,
         "last_at": "2025-03-10T11:31:00Z"}]


def test_rate_limit_filters_and_paging(traffic):
    page = traffic.a.get("/analytics/rate-limits/", query_string={"limit": 2}).json
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = traffic.a.get("/analytics/rate-limits/", query_string={
        "limit": 2, "cursor": page["next_cursor"]}).json
    assert [e["id"] for e in rest["items"]] == ["rle_a1first"] and rest["next_cursor"] is None
    assert rest["total"] == 3  # totals cover the whole range, not the page
    by_key = traffic.a.get("/analytics/rate-limits/", query_string={
        "api_key_id": traffic.a.key_id, "since": "2025-03-10T11:00:10Z"}).json
    assert [e["id"] for e in by_key["items"]] == ["rle_a1second"]


def test_platform_sees_every_orgs_refusals(traffic):
    body = traffic.platform("/analytics/rate-limits/").json
    assert body["total"] == 4
    assert {k["organization_id"] for k in body["per_key"]} == {traffic.a.org_id,
                                                               traffic.b.org_id}
    only_b = traffic.platform("/analytics/rate-limits/", query_string={
        "organization_id": traffic.b.org_id}).json
    assert [e["id"] for e in only_b["items"]] == ["rle_b1"]


def test_a_real_429_is_recorded_and_visible(app):
    from tests.factories import make_key, make_tenant

    small = make_tenant(app, "Tiny", rate_limit=2)
    reader_id, reader = make_key(app, small.org_id, name="reader")
    statuses = [small.get("/api/v1/assistants/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    # The org's budget is spent, so the analytics read is refused too, and recorded.
    refused = small.client.get("/analytics/rate-limits/", headers={"X-API-Key": reader})
    assert refused.status_code == 429
    from extensions import limiter

    with app.app_context():
        limiter.reset()
    body = small.client.get("/analytics/rate-limits/", headers={"X-API-Key": reader}).json
    assert [(e["api_key_id"], e["path"]) for e in body["items"]] == [
        (reader_id, "/analytics/rate-limits/"), (small.key_id, "/api/v1/assistants/")]
    usage = small.client.get("/analytics/usage/", headers={"X-API-Key": reader}).json
    assert usage["totals"]["rate_limited"] == 2
