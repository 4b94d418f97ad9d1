"""API keys in the console: shown once, listed by prefix, revoked for real."""
from __future__ import annotations

import re


def test_created_key_is_shown_once_and_works_against_the_api(corg):
    owner = corg["owner"]
    resp = owner.post("/console/keys/", {"name": "website widget"})
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    secret = re.search(r'value="(cpn_live_[A-Za-z0-9]+)"', resp.text).group(1)
    assert "shown <strong>only once</strong>" in resp.text and "data-copy" in resp.text
    api = corg.tenant.client.get("/api/v1/assistants/", headers={"X-API-Key": secret})
    assert api.status_code == 200
    listing = owner.client.get("/console/keys/").text
    assert "website widget" in listing and secret[:17] in listing
    assert secret not in listing  # never again


def test_the_same_form_sent_twice_creates_one_key(corg):
    """A reload of the "key created" page re-posts the form; it must not mint again."""
    owner = corg["owner"]
    token = re.search(r'name="form_token" value="([^"]+)"',
                      owner.client.get("/console/keys/").text).group(1)
    first = owner.post("/console/keys/", {"name": "crm sync", "form_token": token})
    assert first.status_code == 200 and "cpn_live_" in first.text
    again = owner.post("/console/keys/", {"name": "crm sync", "form_token": token})
    assert again.status_code == 302
    listing = owner.client.get("/console/keys/").text
    assert listing.count(">crm sync<") == 1 and "was already created from this form" in listing
    # A fresh form (a new token) creates another key as asked.
    token2 = re.search(r'name="form_token" value="([^"]+)"', listing).group(1)
    assert token2 != token
    assert owner.post("/console/keys/", {"name": "crm sync",
                                         "form_token": token2}).status_code == 200


def test_key_listing_shows_prefix_created_last_used_and_status(corg):
    corg.tenant.get("/api/v1/assistants/")  # uses the tenant's key → last_used_at
    html = corg["admin"].client.get("/console/keys/").text
    row = html[html.index(f'data-key="{corg.tenant.key_id}"'):]
    row = row[:row.index("</tr>")]
    assert "cpn_live_" in row and "just now" in row and ">active<" in row
    assert "never" not in row


def test_revoke_after_confirmation_stops_the_key(corg):
    owner = corg["owner"]
    html = owner.client.get("/console/keys/").text
    assert 'data-confirm="Revoke “test”?' in html
    resp = owner.post(f"/console/keys/{corg.tenant.key_id}/revoke")
    assert resp.status_code == 302
    listing = owner.client.get("/console/keys/").text
    assert "is revoked" in listing and ">revoked<" in listing
    assert corg.tenant.get("/api/v1/assistants/").status_code == 401


def test_key_name_too_long_is_an_inline_error(corg):
    resp = corg["owner"].post("/console/keys/", {"name": "k" * 121})
    assert resp.status_code == 422
    assert 'id="name-error"' in resp.text and "At most 120 characters." in resp.text
    assert "cpn_live_" not in resp.text.split("<tbody>")[0].split("New key name")[-1]


def test_the_console_mints_scoped_expiring_keys_with_their_own_limit(corg):
    """Issue 14 item 1: scopes as checkboxes (keys:manage only here and in the CLI), an
    expiry date and a per-key limit; the list shows them."""
    owner = corg["owner"]
    page = owner.client.get("/console/keys/").text
    for scope in ("assistants:read", "keys:manage", "analytics:read"):
        assert f'data-scope="{scope}"' in page
    assert re.search(r'data-scope="assistants:read" checked', page)
    assert not re.search(r'data-scope="keys:manage" checked', page)  # not by default
    resp = owner.post("/console/keys/", {
        "name": "admin tool", "scopes_shown": "1", "scopes": ["keys:manage", "audit:read"],
        "expires_at": "2099-01-31", "rate_limit_per_hour": "50"})
    assert resp.status_code == 200, resp.text[:500]
    secret = re.search(r'value="(cpn_live_[A-Za-z0-9]+)"', resp.text).group(1)
    keys = corg.tenant.client.get("/api/v1/keys/", headers={"X-API-Key": secret})
    assert keys.status_code == 200
    mine = next(k for k in keys.json["items"] if k["name"] == "admin tool")
    assert mine["scopes"] == ["keys:manage", "audit:read"]
    assert mine["expires_at"] == "2099-01-31T00:00:00Z" and mine["rate_limit_per_hour"] == 50
    listing = owner.client.get("/console/keys/").text
    row = listing[listing.index(f'data-key="{mine["id"]}"'):]
    row = row[:row.index("</tr>")]
    assert "<code>keys:manage</code>" in row and "until 2099-01-31" in row and "50/hour" in row

    # No box ticked is refused, with what was typed kept.
    resp = owner.post("/console/keys/", {"name": "nothing", "scopes_shown": "1",
                                         "expires_at": "2001-01-01"})
    assert resp.status_code == 422
    assert "at least one scope" in resp.text and "in the future" in resp.text
    assert 'value="nothing"' in resp.text
