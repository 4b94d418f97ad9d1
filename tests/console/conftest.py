"""Console test wiring: sign-in through the real form (CSRF token scraped from the page),
an organization with one operator per role, and a live server + Chromium for browser tests.
"""
from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.factories import Tenant, make_tenant, make_user

ROLES = ("owner", "admin", "viewer")
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def csrf_from(html: str) -> str:
    """The CSRF token a console page carries (meta tag, else a form's hidden input)."""
    match = _CSRF_META.search(html) or _CSRF_INPUT.search(html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def login(client: Any, email: str, password: str, next_url: str | None = None) -> Any:
    """Sign in through the form exactly like a browser: GET the page, POST with its token."""
    page = client.get("/console/login")
    data = {"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    if next_url:
        data["next"] = next_url
    return client.post("/console/login", data=data)


@dataclass
class Operator:
    """A signed-in test client for one user, with the token its forms need."""

    client: Any
    user_id: str
    email: str
    role: str
    csrf: str = ""

    def refresh_csrf(self) -> str:
        self.csrf = csrf_from(self.client.get("/console/").text)
        return self.csrf

    def post(self, path: str, data: dict | None = None, **kw: Any) -> Any:
        """A form post carrying the CSRF token (as a browser's form would)."""
        body = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(path, data=body, **kw)

    def hx_post(self, path: str, data: dict | None = None) -> Any:
        """An HTMX post: token in X-CSRFToken (from <body hx-headers>), HX-Request set."""
        return self.client.post(path, data=data or {}, headers={
            "HX-Request": "true", "X-CSRFToken": self.csrf})


@dataclass
class ConsoleOrg:
    """An organization (with an API key) and one signed-in operator per role."""

    tenant: Tenant
    operators: dict[str, Operator] = field(default_factory=dict)

    @property
    def org_id(self) -> str:
        return self.tenant.org_id

    def __getitem__(self, role: str) -> Operator:
        return self.operators[role]


def make_console_org(app: Any, name: str) -> ConsoleOrg:
    tenant = make_tenant(app, name)
    org = ConsoleOrg(tenant=tenant)
    for role in ROLES:
        user_id, email, password = make_user(app, tenant.org_id, role=role)
        client = app.test_client()
        # Each operator signs in from its own address, as people do; the sign-in throttle
        # counts per address.
        a, b = secrets.randbelow(250), secrets.randbelow(250) + 1
        client.environ_base["REMOTE_ADDR"] = f"10.{len(org.operators)}.{a}.{b}"
        resp = login(client, email, password)
        assert resp.status_code == 302, resp.text
        op = Operator(client=client, user_id=user_id, email=email, role=role)
        op.refresh_csrf()
        org.operators[role] = op
    return org


@pytest.fixture
def corg(app: Any) -> ConsoleOrg:
    return make_console_org(app, "Org A")


@pytest.fixture
def other_corg(app: Any) -> ConsoleOrg:
    return make_console_org(app, "Org B")


def create_assistant_via_api(tenant: Tenant, **overrides: Any) -> dict:
    body = {"name": "Support", "tone": "friendly", "language": "en",
            "instructions": "Answer from the knowledge base.",
            "task_models": {"chat": "claude-sonnet-4-5"}, **overrides}
    resp = tenant.post("/api/v1/assistants/", json=body)
    assert resp.status_code == 201, resp.json
    return resp.json


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
