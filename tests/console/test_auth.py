"""Sign-in, sign-out, and how an unauthenticated caller is answered on each channel."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.console.conftest import csrf_from, login
from tests.factories import make_tenant, make_user


def test_owner_signs_in_and_lands_on_the_dashboard(app, client):
    tenant = make_tenant(app, "Sign-in Org")
    _, email, password = make_user(app, tenant.org_id, role="owner")
    resp = login(client, email, password)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/")
    page = client.get("/console/")
    assert page.status_code == 200
    assert "Sign-in Org" in page.text and email in page.text


def test_wrong_password_is_refused_with_a_message_and_no_session(app, client):
    tenant = make_tenant(app)
    _, email, _ = make_user(app, tenant.org_id)
    resp = login(client, email, "not-the-password")
    assert resp.status_code == 401
    assert "Email or password is incorrect." in resp.text
    assert client.get("/console/").status_code == 302


def test_unauthenticated_page_redirects_to_sign_in_with_next(client):
    resp = client.get("/console/assistants/?cursor=x")
    assert resp.status_code == 302
    target = urlsplit(resp.headers["Location"])
    assert target.path == "/console/login"
    assert parse_qs(target.query)["next"] == ["/console/assistants/?cursor=x"]


def test_unauthenticated_htmx_call_gets_401_with_hx_redirect(client):
    resp = client.post("/console/assistants/asst_x/active", headers={
        "HX-Request": "true", "HX-Current-URL": "http://localhost/console/assistants/"})
    assert resp.status_code == 401
    target = urlsplit(resp.headers["HX-Redirect"])
    assert target.path == "/console/login"
    # After signing in the operator returns to the page they clicked on, not the POST URL.
    assert parse_qs(target.query)["next"] == ["/console/assistants/"]
    assert "Sign in" in resp.text
    resp = client.get("/console/keys/", headers={"HX-Request": "true"})
    assert resp.status_code == 401 and resp.headers["HX-Redirect"].startswith("/console/login")


def test_sign_in_returns_to_the_page_that_asked(app, client):
    tenant = make_tenant(app)
    _, email, password = make_user(app, tenant.org_id)
    resp = login(client, email, password, next_url="/console/keys/")
    assert resp.headers["Location"].endswith("/console/keys/")


def test_next_cannot_send_the_operator_off_site(app, client):
    tenant = make_tenant(app)
    _, email, password = make_user(app, tenant.org_id)
    for bad in ("https://evil.example/", "//evil.example/console", "/console\\@evil"):
        resp = login(client, email, password, next_url=bad)
        assert resp.headers["Location"].endswith("/console/"), bad
        client.post("/console/logout", data={"csrf_token": csrf_from(client.get("/console/").text)})


def test_sign_out_ends_the_session(app, client):
    tenant = make_tenant(app)
    _, email, password = make_user(app, tenant.org_id)
    login(client, email, password)
    token = csrf_from(client.get("/console/").text)
    resp = client.post("/console/logout", data={"csrf_token": token})
    assert resp.status_code == 302 and "/console/login" in resp.headers["Location"]
    assert client.get("/console/").status_code == 302


def test_post_without_csrf_token_is_refused(app, corg):
    # The shared app runs with WTF_CSRF_ENABLED at its default (True).
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    owner = corg["owner"]
    resp = owner.client.post("/console/keys/", data={"name": "sneaky"})
    assert resp.status_code == 400
    assert "This form expired" in resp.text and "<html" in resp.text
    resp = owner.client.post("/console/keys/", data={"name": "sneaky"},
                             headers={"HX-Request": "true"})
    assert resp.status_code == 400
    assert "toast" in resp.headers["HX-Trigger"]
    keys = owner.client.get("/console/keys/").text
    assert "sneaky" not in keys


def test_sign_in_form_itself_needs_the_csrf_token(app, client):
    tenant = make_tenant(app)
    _, email, password = make_user(app, tenant.org_id)
    resp = client.post("/console/login", data={"email": email, "password": password})
    assert resp.status_code == 400
    assert client.get("/console/").status_code == 302


def test_sign_in_is_throttled_per_address_with_a_friendly_page(app, client):
    tenant = make_tenant(app)
    _, email, _ = make_user(app, tenant.org_id)
    old = app.config["LOGIN_RATE_LIMIT"]
    app.config["LOGIN_RATE_LIMIT"] = "3/minute"
    try:
        responses = [login(client, email, "wrong-password") for _ in range(4)]
    finally:
        app.config["LOGIN_RATE_LIMIT"] = old
    assert [r.status_code for r in responses] == [401, 401, 401, 429]
    resp = responses[3]
    assert "Too many sign-in attempts" in resp.text and "<html" in resp.text
    assert resp.headers["Retry-After"]


def test_disabled_operator_is_signed_out_on_the_next_request(app, corg):
    from extensions import db
    from models.orgs import Organization, User
    from services.users import set_disabled

    viewer = corg["viewer"]
    assert viewer.client.get("/console/").status_code == 200
    with app.app_context():
        org = db.session.get(Organization, corg.org_id)
        owner = db.session.get(User, corg["owner"].user_id)
        set_disabled(org, viewer.user_id, True, acting=owner)
    assert viewer.client.get("/console/").status_code == 302


def test_a_cookie_saved_before_sign_out_is_refused_after_it(app):
    """Issue 14 item 5: signed client-side sessions used to survive sign-out."""
    tenant = make_tenant(app)
    _, email, password = make_user(app, tenant.org_id, role="owner")
    browser, thief = app.test_client(), app.test_client()
    login(browser, email, password)
    saved = browser.get_cookie("session").value
    thief.set_cookie("session", saved)
    assert thief.get("/console/keys/").status_code == 200  # a copy works while signed in
    token = csrf_from(browser.get("/console/").text)
    browser.post("/console/logout", data={"csrf_token": token})
    resp = thief.get("/console/keys/")
    assert resp.status_code == 302 and "/console/login" in resp.headers["Location"]
    login(browser, email, password)  # signing in again works, with a new cookie
    assert browser.get("/console/keys/").status_code == 200
    thief.set_cookie("session", saved)
    assert thief.get("/console/keys/").status_code == 302


def test_a_role_change_ends_the_operators_open_sessions(app, corg):
    viewer = corg["viewer"]
    assert viewer.client.get("/console/").status_code == 200
    resp = corg["owner"].post(f"/console/team/{viewer.user_id}/role", {"role": "admin"})
    assert resp.status_code in (200, 302)
    assert viewer.client.get("/console/").status_code == 302  # signs in again, as admin
    assert corg["owner"].client.get("/console/").status_code == 200  # the owner is untouched


def test_the_console_session_ends_after_the_idle_lifetime(app):
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 12 * 3600
    tenant = make_tenant(app)
    _, email, password = make_user(app, tenant.org_id)
    client = app.test_client()
    login(client, email, password)
    cookie = client.get_cookie("session")
    assert cookie.expires is not None  # a permanent session: the browser drops it too


def test_console_pages_carry_security_headers_and_no_inline_script(app, corg):
    """Issue 14 item 5: CSP with no inline script, no framing, no sniffing."""
    import re

    owner = corg["owner"]
    for path in ("/console/", "/console/analytics/", "/console/keys/", "/console/login"):
        resp = owner.client.get(path) if path != "/console/login" else app.test_client().get(
            path)
        assert resp.status_code == 200, path
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split(
            "script-src")[1].split(";")[0] and "frame-ancestors 'none'" in csp
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", resp.text), path
        assert not re.search(r"\son[a-z]+=\"", resp.text), path  # no inline handlers
    api = corg.tenant.get("/api/v1/assistants/")
    assert api.headers["X-Content-Type-Options"] == "nosniff"


def test_the_session_cookie_is_secure_over_https(app):
    tenant = make_tenant(app)
    _, email, password = make_user(app, tenant.org_id)
    client = app.test_client()
    page = client.get("/console/login", base_url="https://console.example")
    resp = client.post("/console/login", base_url="https://console.example", data={
        "email": email, "password": password, "csrf_token": csrf_from(page.text)},
        headers={"Referer": "https://console.example/console/login"})  # CSRF over HTTPS
    assert resp.status_code == 302
    assert "Secure" in resp.headers["Set-Cookie"] and "HttpOnly" in resp.headers["Set-Cookie"]


def test_services_mode_makes_the_session_cookie_secure_by_default(monkeypatch):
    from config import Config

    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://example/companin")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert Config().SESSION_COOKIE_SECURE is True
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("REDIS_URL")
    assert Config().SESSION_COOKIE_SECURE is False


def test_per_account_back_off_holds_across_addresses_and_lets_the_user_back_soon(
        app, monkeypatch):
    import time

    monkeypatch.setitem(app.config, "LOGIN_FREE_FAILURES", 3)
    monkeypatch.setitem(app.config, "LOGIN_BACKOFF_BASE_SECONDS", 1)
    monkeypatch.setitem(app.config, "LOGIN_BACKOFF_MAX_SECONDS", 2)
    org = make_tenant(app, "Backoff").org_id
    _uid, email, password = make_user(app, org, role="admin")
    _other, other_email, other_password = make_user(app, org, role="viewer")

    def attempt(address: str, who: str, secret: str):  # noqa: ANN202
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address  # an attacker with many addresses
        return login(client, who, secret)

    codes = [attempt(f"198.51.100.{n}", email, "wrong-password").status_code
             for n in range(1, 4)]
    assert codes == [401, 401, 429]
    locked = attempt("198.51.100.77", email, password)  # even the right password waits
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins for this account" in locked.text
    assert attempt("198.51.100.78", other_email, other_password).status_code == 302
    time.sleep(2.1)
    assert attempt("198.51.100.79", email, password).status_code == 302  # back soon
    assert attempt("198.51.100.80", email, "wrong-password").status_code == 401  # reset
