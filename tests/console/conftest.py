"""Console test wiring: sign-in through the real form (CSRF token scraped from the page),
an organization with one operator per role, and a live server + Chromium for browser tests.
"""
from __future__ import annotations

import re
import secrets
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


@dataclass
class Story:
    """One customer story in an organization, with the id of each object it made: a Q&A
    source (indexed, with a chunk), the job that indexed it, a session with context, a
    conversation whose reply cites the chunk, and a rating."""

    assistant_id: str
    source_id: str
    job_id: str
    chunk_id: str
    session_id: str
    conversation_id: str
    reply_id: str
    feedback_id: str

    def ids(self) -> dict[str, str]:
        return dict(self.__dict__)


def make_story(tenant: Tenant, run_jobs: Any, *, external_id: str = "crm-42",
               question: str = "Do you ship to Switzerland?",
               answer: str = "Yes, we ship to Switzerland within 3 working days.") -> Story:
    """Everything through the public API, as a channel integration would do it."""
    assistant = create_assistant_via_api(tenant)
    bulk = tenant.post("/api/v1/knowledge/qas/", json={"items": [
        {"question": question, "answer": answer, "tags": ["shipping"]}]})
    assert bulk.status_code == 202, bulk.json
    run_jobs()
    source_id = bulk.json["items"][0]["id"]
    chunks = tenant.get(f"/api/v1/knowledge/sources/{source_id}/chunks").json["items"]
    session = tenant.post("/api/v1/sessions/", json={
        "assistant_id": assistant["id"], "channel": "whatsapp",
        "user": {"external_id": external_id, "name": "Lea"},
        "metadata": {"campaign": "spring"}})
    assert session.status_code == 201, session.json
    sid = session.json["id"]
    assert tenant.post("/api/v1/contexts", json={
        "session_id": sid, "attributes": {"plan": "gold", "cart_items": 3}}).status_code == 201
    conv = tenant.post("/api/v1/conversations/", json={"session_id": sid}).json
    sent = tenant.post(f"/api/v1/conversations/{conv['id']}/messages",
                       json={"content": question})
    assert sent.status_code == 201, sent.json
    reply = sent.json["reply"]
    fb = tenant.post(f"/api/v1/conversations/{conv['id']}/feedback", json={
        "rating": 4, "comment": "Quick and right", "message_id": reply["id"],
        "actor": {"type": "agent", "id": "ag-7", "name": "Marta"}})
    assert fb.status_code == 201, fb.json
    return Story(assistant_id=assistant["id"], source_id=source_id, job_id=bulk.json["job_id"],
                 chunk_id=chunks[0]["id"], session_id=sid, conversation_id=conv["id"],
                 reply_id=reply["id"], feedback_id=fb.json["id"])


# Browser fixtures (live_server, browser, page, browser_operator) live in
# tests/browser_fixtures.py so every test package shares ONE Playwright instance.
from tests.browser_fixtures import browser_login  # noqa: E402,F401
