"""Real Chromium: the analytics page draws its Plotly charts from the local bundle, and a
filter change redraws them through HTMX."""
from __future__ import annotations

import time

import pytest

from tests.analytics.conftest import seed
from tests.factories import Tenant, make_key, make_tenant

pytest.importorskip("playwright")
from tests.browser_fixtures import browser_login  # noqa: E402

pytestmark = pytest.mark.browser


def test_charts_draw_and_redraw_on_filter_change(app, page, live_server, browser_operator):
    a2_key_id, _ = make_key(app, browser_operator["org_id"], name="second")
    tenant = make_tenant(app, "Elsewhere")
    owner_tenant = Tenant(org_id=browser_operator["org_id"], key_id=a2_key_id, secret="",
                          client=None)
    seed(app, owner_tenant, a2_key_id, tenant)
    refused: list[str] = []  # the CSP allows no inline script: Plotly and htmx need none
    page.on("console", lambda msg: refused.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.goto(f"{live_server}/console/analytics/?since=2025-03-10&until=2025-03-10")
    page.wait_for_selector("#chart-requests .main-svg")
    for name in ("latency", "endpoints", "events"):
        assert page.locator(f"#chart-{name} .main-svg").count() >= 1, name
    assert page.locator("[data-empty=ratings]").is_visible()  # no feedback seeded
    assert page.locator("#table-requests").is_hidden()
    page.click("#requests-card summary")
    assert page.locator("#table-requests").is_visible()
    assert page.locator("[data-total=requests] .stat-value").inner_text() == "9"

    page.select_option("#interval", "day")
    # Plotly keeps the drawn traces on the chart element: one daily bucket after the swap.
    # (polled with evaluate: wait_for_function evaluates strings, which the CSP refuses)
    deadline = time.monotonic() + 10
    while not page.evaluate(
            "() => (document.getElementById('chart-requests').data || [{x: []}])[0].x.length"
            " === 1"):
        assert time.monotonic() < deadline, "the daily chart was not drawn"
        page.wait_for_timeout(50)
    assert "interval=day" in page.url
    assert page.locator("#chart-requests .main-svg").count() >= 1
    # After the swap each chart keeps Plotly's own classes (htmx's settle step used to
    # strip them: the mode bar then covered the chart) and draws exactly one legend.
    for name in ("requests", "latency"):
        chart = page.locator(f"#chart-{name}")
        assert "js-plotly-plot" in (chart.get_attribute("class") or ""), name
        assert chart.locator(".legend").count() == 1, name
    assert page.locator("#charts .modebar-container").count() == page.locator(
        "#charts .js-plotly-plot").count()

    # A range with no data says so instead of drawing a meaningless −1…1 axis.
    page.fill("#since", "2024-01-01")
    page.fill("#until", "2024-01-02")
    page.locator("#until").dispatch_event("change")
    page.wait_for_selector("[data-empty=requests]")
    assert page.locator("#charts .js-plotly-plot").count() == 0
    assert "No API calls in this range yet." in page.locator("#requests-card").inner_text()
    assert refused == []
