"""Console analytics pages: charts with their data for owners and viewers, HTMX panel
swaps, the locally served Plotly bundle, and organization isolation."""
from __future__ import annotations

import json
import re

import pytest

from tests.analytics.conftest import seed
from tests.factories import make_key, make_tenant

from tests.console.conftest import make_console_org

DAY_QS = "?since=2025-03-10&until=2025-03-10"
CHARTS = ("requests", "latency", "endpoints", "events", "ratings", "versions")


@pytest.fixture
def corg_traffic(app):  # noqa: ANN001, ANN201
    corg = make_console_org(app, "Org A")
    a2_key_id, _ = make_key(app, corg.org_id, name="second")
    other = make_tenant(app, "Org B")
    seed(app, corg.tenant, a2_key_id, other)
    return corg, a2_key_id


def _figure(html: str, name: str) -> dict:
    match = re.search(rf'id="chart-{name}"[^>]*data-figure=\'([^\']*)\'', html)
    assert match, name
    return json.loads(match.group(1))


def _table(html: str, name: str) -> str:
    start = html.index(f'id="table-{name}"')
    return html[start:html.index("</table>", start)]


@pytest.mark.parametrize("role", ["owner", "viewer"])
def test_chart_page_renders_with_its_data(corg_traffic, role):
    corg, _ = corg_traffic
    resp = corg[role].client.get("/console/analytics/" + DAY_QS)
    assert resp.status_code == 200, resp.text[:300]
    html = resp.text
    assert '<script src="/console/vendor/plotly.min.js?v=' in html
    # no script or stylesheet from elsewhere (a random key id may contain "cdn" itself)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    for name in CHARTS:
        assert f'id="table-{name}"' in html
    # Charts with data are drawn; the rest (no feedback, no conversation that day) say
    # "no data yet" instead of drawing an empty −1…1 axis.
    for name in ("requests", "latency", "endpoints", "events"):
        assert f'id="chart-{name}"' in html
    for name in ("ratings", "versions", "conversations", "quality"):
        assert f'data-empty="{name}"' in html and f'id="chart-{name}"' not in html
    assert html.count("<details>") == len(CHARTS) + 2
    requests = _figure(html, "requests")
    assert [t["name"] for t in requests["data"]] == ["2xx/3xx", "4xx", "429", "5xx"]
    ok, e4, rl, e5 = (t["y"] for t in requests["data"])
    assert len(ok) == 24  # one bucket per hour of the day, empty ones included
    assert (ok[10], e4[10], rl[10], e5[10]) == (4, 1, 0, 0)
    assert (ok[11], e4[11], rl[11], e5[11]) == (1, 0, 1, 1)
    assert ok[13] == 1 and sum(ok) + sum(e4) + sum(rl) + sum(e5) == 9
    latency = _figure(html, "latency")
    assert latency["data"][0]["y"][10] == 20.0 and latency["data"][1]["y"][11] == 1084.0
    assert latency["data"][0]["y"][12] is None
    ends = _table(html, "endpoints")
    assert "<code>/api/v1/assistants/</code></td><td class=\"right\">6</td>" in ends
    assert "66.7%" in ends
    events = _figure(html, "events")
    assert len(events["data"][0]["x"]) == 3
    assert "203.0.113.9" in _table(html, "events")
    assert 'data-total="requests"' in html


def test_filters_swap_only_the_charts_panel(corg_traffic):
    corg, a2_key_id = corg_traffic
    op = corg["viewer"]
    resp = op.client.get(f"/console/analytics/{DAY_QS}&api_key_id={a2_key_id}&interval=day",
                         headers={"HX-Request": "true"})
    assert resp.status_code == 200
    html = resp.text
    assert "<html" not in html and 'id="analytics-filters"' not in html
    requests = _figure(html, "requests")
    assert requests["data"][0]["y"] == [3] and requests["data"][0]["x"] == [
        "2025-03-10T00:00:00+00:00"]
    page = op.client.get("/console/analytics/").text
    assert 'hx-get="/console/analytics/"' in page and 'hx-target="#charts"' in page


def test_bad_filters_fall_back_with_a_message(corg_traffic):
    corg, _ = corg_traffic
    resp = corg["owner"].client.get("/console/analytics/?since=yesterday&api_key_id=key_x")
    assert resp.status_code == 200
    assert "showing the last 7 days" in resp.text


def test_console_never_shows_another_orgs_traffic(app, corg_traffic):
    corg, _ = corg_traffic
    other = make_console_org(app, "Org C")
    html = other["owner"].client.get("/console/analytics/" + DAY_QS).text
    assert 'data-empty="requests"' in html and 'id="chart-requests"' not in html
    assert "203.0.113.9" not in html
    # Another organization's key id in the filter is ignored, not honoured.
    leaked = other["owner"].client.get(
        f"/console/analytics/{DAY_QS}&api_key_id={corg.tenant.key_id}").text
    assert 'data-empty="requests"' in leaked


def test_signed_out_visitors_are_sent_to_sign_in(client):
    resp = client.get("/console/analytics/")
    assert resp.status_code == 302 and "/console/login" in resp.headers["Location"]
    hx = client.get("/console/analytics/", headers={"HX-Request": "true"})
    assert hx.status_code == 401


def test_plotly_is_served_locally_with_caching_headers(client):
    import plotly

    resp = client.get(f"/console/vendor/plotly.min.js?v={plotly.__version__}")
    assert resp.status_code == 200
    assert resp.mimetype == "text/javascript"
    assert "max-age=31536000" in resp.headers["Cache-Control"]
    body = resp.get_data()
    assert len(body) > 1_000_000 and b"plotly" in body[:2000].lower()
    again = client.get("/console/vendor/plotly.min.js",
                       headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304


def _requests_total(html: str) -> str:
    match = re.search(r'data-total="requests">.*?class="stat-value"[^>]*>([^<]+)<', html,
                      re.S)
    assert match
    return match.group(1).strip()


def test_platform_admin_picks_any_organization(app, corg_traffic):
    from extensions import db
    from models.orgs import Organization, User

    corg, _ = corg_traffic
    owner = corg["owner"]
    with app.app_context():
        db.session.get(User, owner.user_id).is_platform_admin = True
        db.session.commit()
        other = db.session.execute(
            db.select(Organization).where(Organization.name == "Org B")).scalar_one()
    own = owner.client.get("/console/analytics/" + DAY_QS)
    assert own.status_code == 200 and 'id="org-picker"' in own.text
    assert "Org B" in own.text and _requests_total(own.text) == "9"
    theirs = owner.client.get(f"/console/analytics/{DAY_QS}&organization_id={other.id}")
    assert theirs.status_code == 200
    assert _requests_total(theirs.text) == "2"  # Org B's two seeded calls
    assert owner.client.get(
        f"/console/analytics/{DAY_QS}&organization_id=org_missing").status_code == 404


def test_other_operators_cannot_pick_another_organization(app, corg_traffic):
    from extensions import db
    from models.orgs import Organization

    corg, _ = corg_traffic
    with app.app_context():
        other = db.session.execute(
            db.select(Organization).where(Organization.name == "Org B")).scalar_one()
    viewer = corg["viewer"]
    page = viewer.client.get("/console/analytics/" + DAY_QS)
    assert 'id="org-picker"' not in page.text
    resp = viewer.client.get(f"/console/analytics/{DAY_QS}&organization_id={other.id}")
    assert resp.status_code == 404
    assert viewer.client.get(
        f"/console/analytics/{DAY_QS}&organization_id={corg.org_id}").status_code == 200


def test_the_console_filter_bar_refuses_extreme_dates_with_a_message(corg_traffic):
    corg, _ = corg_traffic
    resp = corg["owner"].client.get("/console/analytics/?since=0001-01-01&until=9999-12-31")
    assert resp.status_code == 200
    assert "Pick dates from 1970 to 2199" in resp.text
