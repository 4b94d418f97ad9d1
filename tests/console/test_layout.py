"""The console's frame on a phone and for keyboard and screen-reader users: the sidebar
folds behind a menu button, no page scrolls sideways at 390 px, a skip link leads past the
navigation, every page has an icon, and each assistant's switch says whose it is.
"""
from __future__ import annotations

import pytest

from tests.console.conftest import create_assistant_via_api, make_story
from tests.factories import Tenant

PHONE = {"width": 390, "height": 844}
WIDTH_JS = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def _tenant(app, browser_operator) -> Tenant:  # noqa: ANN001
    return Tenant(org_id=browser_operator["org_id"], key_id="",
                  secret=browser_operator["api_key"], client=app.test_client())


def _sign_in(page, live_server, browser_operator) -> None:  # noqa: ANN001
    from tests.browser_fixtures import browser_login

    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])


# ---- favicon (no browser) ----------------------------------------------------------------

def test_every_page_links_an_icon_that_is_served(client, corg):
    for html in (client.get("/console/login").text, corg["owner"].client.get("/console/").text):
        assert '<link rel="icon" href="/static/console/favicon.svg" type="image/svg+xml">' in html
    icon = client.get("/static/console/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert icon.data.lstrip().startswith(b"<svg")


def test_the_favicon_ico_browsers_ask_for_is_not_a_404(client):
    resp = client.get("/favicon.ico")  # signed out, as a browser's first request is
    assert resp.status_code == 200
    assert resp.mimetype.startswith("image/")


# ---- browser -------------------------------------------------------------------------------

@pytest.mark.browser
def test_on_a_phone_the_sidebar_folds_behind_a_menu_button(page, live_server,
                                                          browser_operator):
    _sign_in(page, live_server, browser_operator)
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server}/console/assistants/")
    toggle = page.locator(".nav-toggle")
    link = page.locator("nav a.nav-link", has_text="Knowledge")
    assert toggle.is_visible() and toggle.evaluate("b => b.tagName") == "BUTTON"
    assert toggle.get_attribute("aria-expanded") == "false"
    assert page.locator(f"#{toggle.get_attribute('aria-controls')}").count() == 1
    assert link.is_hidden()
    assert page.locator("h1").bounding_box()["y"] < 120  # the page, not the menu, comes first

    # Keyboard: Enter opens, Escape closes and keeps focus on the button, Space reopens.
    toggle.focus()
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "true"
    assert link.is_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    assert toggle.get_attribute("aria-expanded") == "false" and link.is_hidden()
    assert page.evaluate("document.activeElement.classList.contains('nav-toggle')")
    page.keyboard.press("Space")
    assert link.is_visible()

    # A mouse click works too, and the link leads on (the next page starts folded again).
    toggle.click()
    assert link.is_hidden()
    toggle.click()
    link.click()
    page.wait_for_url(f"{live_server}/console/knowledge/")
    assert page.locator("nav a.nav-link", has_text="Assistants").is_hidden()

    # Wider than the breakpoint nothing changes: no button, the sidebar on the left.
    page.set_viewport_size({"width": 1360, "height": 900})
    assert toggle.is_hidden()
    assert link.is_visible()
    assert page.locator(".sidebar").bounding_box()["width"] == 232


@pytest.mark.browser
def test_no_page_scrolls_sideways_on_a_phone(page, live_server, browser_operator, app,
                                             run_jobs):
    story = make_story(_tenant(app, browser_operator), run_jobs)
    _sign_in(page, live_server, browser_operator)
    page.set_viewport_size(PHONE)
    paths = ["/console/", "/console/assistants/",
             f"/console/assistants/{story.assistant_id}", "/console/knowledge/",
             "/console/conversations/", f"/console/conversations/{story.conversation_id}",
             "/console/sessions/", "/console/keys/", "/console/team/", "/console/analytics/"]
    for path in paths:
        page.goto(f"{live_server}{path}")
        page.wait_for_load_state("networkidle")
        scroll_width, inner_width = page.evaluate(WIDTH_JS)
        assert scroll_width <= inner_width, (path, scroll_width)
    # The analytics filters wrap onto several lines inside the page.
    box = page.locator("form#analytics-filters").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert page.locator("form#analytics-filters .btn").is_visible()


@pytest.mark.browser
def test_the_first_tab_reaches_a_skip_link_that_jumps_to_the_page(page, live_server,
                                                                  browser_operator):
    _sign_in(page, live_server, browser_operator)
    skip = page.locator(".skip-link")
    assert skip.bounding_box()["y"] + skip.bounding_box()["height"] <= 0  # out of sight
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    box = skip.bounding_box()
    assert box["y"] >= 0 and box["width"] > 50 and skip.is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.tagName") == "MAIN"
    # The next Tab goes on inside the page, not back through the sidebar.
    page.keyboard.press("Tab")
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)")


@pytest.mark.browser
def test_each_assistant_switch_is_named_after_its_assistant(page, live_server,
                                                            browser_operator, app):
    tenant = _tenant(app, browser_operator)
    for name in ("Support", "Sales", "Returns desk"):
        create_assistant_via_api(tenant, name=name)
    _sign_in(page, live_server, browser_operator)
    page.goto(f"{live_server}/console/assistants/")
    assert page.get_by_role("switch").count() == 3
    for name in ("Support", "Sales", "Returns desk"):
        switch = page.get_by_role("switch", name=f"Serving: {name}", exact=True)
        assert switch.count() == 1 and switch.is_checked()
