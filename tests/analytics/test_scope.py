"""Organization isolation on every analytics route, driven from the URL map."""
from __future__ import annotations

import pytest

from tests.analytics.conftest import SINCE, UNTIL


def analytics_routes(app) -> list[str]:  # noqa: ANN001
    return sorted(r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/analytics/"))


def test_every_analytics_route_is_listed(app):
    assert analytics_routes(app) == ["/analytics/conversations/", "/analytics/endpoints/",
                                     "/analytics/feedback/", "/analytics/logs/",
                                     "/analytics/rate-limits/", "/analytics/usage/"]


@pytest.mark.parametrize("path", ["/analytics/conversations/", "/analytics/endpoints/",
                                  "/analytics/feedback/", "/analytics/logs/",
                                  "/analytics/rate-limits/", "/analytics/usage/"])
def test_org_key_naming_another_org_is_404_and_its_own_is_fine(traffic, path):
    other = traffic.a.get(path, query_string={"organization_id": traffic.b.org_id})
    assert other.status_code == 404
    assert other.json["error"]["code"] == "not_found"
    missing = traffic.a.get(path, query_string={"organization_id": "org_doesnotexist"})
    assert missing.status_code == 404 and missing.json == other.json
    own = traffic.a.get(path, query_string={"organization_id": traffic.a.org_id})
    assert own.status_code == 200
    assert traffic.a.get(path).status_code == 200
    assert traffic.a.client.get(path).status_code == 401


def test_org_lists_never_include_other_orgs_rows(traffic):
    b_key = {"api_key_id": traffic.b.key_id, "since": SINCE, "until": UNTIL}
    assert traffic.a.get("/analytics/logs/", query_string=b_key).json["items"] == []
    assert traffic.a.get("/analytics/rate-limits/",
                         query_string={"api_key_id": traffic.b.key_id}).json["items"] == []
    assert traffic.a.get("/analytics/usage/", query_string=b_key).json["totals"][
        "requests"] == 0
    b_logs = traffic.b.get("/analytics/logs/", query_string={"since": SINCE,
                                                             "until": UNTIL}).json["items"]
    assert [i["status"] for i in b_logs] == [503, 200]
    assert {i["organization_id"] for i in b_logs} == {traffic.b.org_id}


def test_platform_key_with_unknown_org_is_404(traffic):
    resp = traffic.platform("/analytics/usage/", query_string={"organization_id": "org_nope"})
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
    logs = traffic.platform("/analytics/logs/", query_string={
        "since": SINCE, "until": UNTIL, "limit": 100}).json["items"]
    assert len(logs) == 11
    assert {i["organization_id"] for i in logs} == {traffic.a.org_id, traffic.b.org_id}


def test_analytics_routes_are_in_the_openapi_document(client, traffic):
    spec = client.get("/api/v1/openapi.json").json
    for path in ("/analytics/logs/", "/analytics/usage/", "/analytics/endpoints/",
                 "/analytics/rate-limits/", "/analytics/feedback/"):
        op = spec["paths"][path]["get"]
        names = {p["name"] for p in op["parameters"]}
        assert {"organization_id", "api_key_id", "since", "until"} <= names
        assert op["security"] == [{"ApiKey": []}]


EXTREMES = ["0001-01-01T00:00:00", "9999-12-31T23:59:59.999999-12:00", "9999-12-31",
            "1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z"]


@pytest.mark.parametrize("value", EXTREMES)
@pytest.mark.parametrize("path", ["/analytics/endpoints/", "/analytics/feedback/",
                                  "/analytics/logs/", "/analytics/rate-limits/",
                                  "/analytics/usage/", "/api/v1/conversations/",
                                  "/api/v1/conversations/export"])
def test_extreme_dates_are_a_clear_422_never_a_500(traffic, path, value):
    for name in ("since", "until"):
        resp = traffic.a.get(path, query_string={name: value})
        assert resp.status_code == 422, (name, resp.status_code, resp.get_data()[:300])
        assert resp.json["error"]["code"] == "validation_error"
        assert "1970 to 2199" in str(resp.json["error"]["details"])
    edge = traffic.a.get(path, query_string={"since": "1970-01-01T00:00:00Z",
                                             "until": "2199-12-31T23:59:59Z"})
    # the bounds themselves are accepted (usage may still ask for a larger interval)
    assert edge.status_code in (200, 422), edge.json
    assert "1970 to 2199" not in str(edge.json)

