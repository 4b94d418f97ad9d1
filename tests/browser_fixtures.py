"""Browser-test fixtures shared by every package: ONE Playwright instance per session
(the sync API cannot run two at once in a thread), a live server on 127.0.0.1, and a
screenshot of the page on failure under test-output/screenshots/."""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import make_tenant, make_user

SCREENSHOT_DIR = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"


# ---- browser tests --------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Expose each phase's report on the item (item.rep_call) for the screenshot fixture."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def live_server(app: Any) -> Iterator[str]:
    """The test app served over real HTTP on a free port, in a background thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context per test; on failure its current page is saved as a PNG
    under test-output/screenshots/ so the broken screen can be looked at."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    pg.on("dialog", lambda dialog: dialog.accept())
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
        try:
            pg.screenshot(path=str(SCREENSHOT_DIR / f"{safe}.png"), full_page=True)
        except Exception:
            pass
    context.close()


@pytest.fixture
def browser_operator(app: Any) -> dict[str, str]:
    """An organization with an owner to sign in as in the browser."""
    tenant = make_tenant(app, "Browser Org")
    _, email, password = make_user(app, tenant.org_id, role="owner",
                                   email="owner@browser-org.example.com")
    return {"org_id": tenant.org_id, "email": email, "password": password,
            "api_key": tenant.secret}


def browser_login(page: Any, base_url: str, email: str, password: str) -> None:
    """Sign in through the real form; lands on the dashboard."""
    page.goto(f"{base_url}/console/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/console/")
