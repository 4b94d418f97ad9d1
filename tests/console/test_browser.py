"""Real Chromium against a live server: what an operator actually clicks through.

Each flow is its own test function built from the helpers in conftest.py
(`browser_login`, the `page` fixture with screenshot-on-failure), so new flows (upload a
PDF and watch it reach ready, run a search, ...) are added as more functions here.
"""
from __future__ import annotations

import re

import pytest

from tests.console.conftest import browser_login

pytestmark = pytest.mark.browser


def test_sign_in_shows_the_dashboard(page, live_server, browser_operator):
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    assert page.locator("h1").first.inner_text().startswith("Dashboard")
    assert page.locator(".org-name").inner_text() == "Browser Org"
    assert page.locator(".toast-success").first.is_visible()


def test_assistant_lifecycle_create_edit_promote_and_pause(page, live_server,
                                                           browser_operator):
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.click("text=Assistants")
    page.click("[data-test=new-assistant]")
    page.fill("#f-name", "Hotel concierge")
    page.fill("#f-language", "it")
    page.fill("#f-tone", "warm")
    page.fill("#f-instructions", "Greet guests.\nAnswer in Italian.")
    page.click("button:has-text('Create assistant')")
    page.wait_for_url(re.compile(r".*/console/assistants/asst_\w+$"))
    assert "version 1 is live" in page.locator("#toasts").inner_text()

    page.click("[data-test=edit]")
    page.fill("#f-tone", "formal")
    page.click("button:has-text('Save new version')")
    assert "Saved version 2 as a draft" in page.locator("#toasts").inner_text()
    assert page.locator("tr[data-version='2'] .badge").inner_text() == "draft"

    page.click("[data-test=promote-2]")  # the confirm() dialog is accepted by the fixture
    page.wait_for_selector("text=Version 2 is live now")
    assert page.locator("tr[data-version='2'] .badge").inner_text() == "live"
    assert page.locator("tr[data-version='1'] .badge").inner_text() == "previous"

    page.click("a:has-text('Diff with v1')")
    assert page.locator("[data-field='tone'] del").inner_text() != ""
    assert "formal" in page.locator("[data-field='tone'] td.r").inner_text()

    # The switch pauses in place over HTMX, with a toast and no page load.
    page.click("nav >> text=Assistants")
    row = page.locator("tr", has_text="Hotel concierge")
    row.locator(".switch").click()
    page.wait_for_selector(".toast:has-text('is paused')")
    assert row.locator("[data-status]").inner_text() == "paused"


def test_api_key_is_shown_once_then_revoked(page, live_server, browser_operator):
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.click("text=API keys")
    page.fill("#f-name", "website widget")
    page.click("button:has-text('Create key')")
    secret = page.locator("[data-test=secret]").input_value()
    assert secret.startswith("cpn_live_")
    page.click("[data-copy]")
    page.wait_for_selector("text=Copied")

    page.click("text=back to keys")
    assert secret not in page.content()
    row = page.locator("tr", has_text="website widget")
    assert row.locator(".badge").inner_text() == "active"
    row.locator("[data-test=revoke]").click()
    page.wait_for_selector("text=is revoked")
    assert page.locator("tr", has_text="website widget").locator(".badge").inner_text() \
        == "revoked"
    # The revoked key no longer opens the API.
    resp = page.request.get(f"{live_server}/api/v1/assistants/",
                            headers={"X-API-Key": secret})
    assert resp.status == 401


def test_expired_session_on_an_htmx_click_goes_to_sign_in(page, live_server,
                                                          browser_operator):
    browser_login(page, live_server, browser_operator["email"], browser_operator["password"])
    page.request.post(f"{live_server}/api/v1/assistants/", headers={
        "X-API-Key": browser_operator["api_key"]}, data={"name": "Bot"})
    page.goto(f"{live_server}/console/assistants/")
    page.context.clear_cookies()
    page.locator("tr", has_text="Bot").locator(".switch").click()
    page.wait_for_url(re.compile(r".*/console/login\?next=/console/assistants/$"))
    assert page.locator("h1").inner_text() == "Sign in to the console"
