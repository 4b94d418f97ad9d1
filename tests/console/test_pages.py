"""Every console page renders for every role; viewers see no control that changes state."""
from __future__ import annotations

import pytest

from tests.console.conftest import ROLES, create_assistant_via_api

PAGES = {
    "dashboard": "/console/",
    "assistants": "/console/assistants/",
    "assistant": "/console/assistants/{aid}",
    "diff": "/console/assistants/{aid}/diff?a=1&b=2",
    "scope": "/console/assistants/{aid}/knowledge",
    "keys": "/console/keys/",
    "team": "/console/team/",
}
WRITE_ONLY_PAGES = {
    "new assistant": "/console/assistants/new",
    "edit assistant": "/console/assistants/{aid}/edit",
}


@pytest.fixture
def aid(corg) -> str:
    a = create_assistant_via_api(corg.tenant)
    resp = corg.tenant.patch(f"/api/v1/assistants/{a['id']}", json={"tone": "formal"})
    assert resp.status_code == 200
    return a["id"]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_for_every_role(corg, aid, role):
    op = corg[role]
    for name, path in PAGES.items():
        resp = op.client.get(path.format(aid=aid))
        assert resp.status_code == 200, (name, resp.text[:300])
        html = resp.text
        assert '<meta name="csrf-token"' in html and "X-CSRFToken" in html, name
        assert "Org A" in html and op.email in html and f"role-{role}" in html, name
        assert "Sign out" in html, name


def test_editing_forms_render_for_owner_and_admin_only(corg, aid):
    for role, expected in (("owner", 200), ("admin", 200), ("viewer", 403)):
        for name, path in WRITE_ONLY_PAGES.items():
            resp = corg[role].client.get(path.format(aid=aid))
            assert resp.status_code == expected, (role, name)
            if expected == 200:
                assert 'name="csrf_token"' in resp.text
            else:
                assert "viewer" in resp.text


def test_viewer_sees_data_but_no_mutating_controls(corg, aid):
    viewer = corg["viewer"].client
    listing = viewer.get("/console/assistants/").text
    assert "Support" in listing
    assert "New assistant" not in listing
    assert "hx-post" not in listing and "switch is-readonly" in listing
    detail = viewer.get(f"/console/assistants/{aid}").text
    assert "Version history" in detail
    for control in ("Promote", "Roll back", "Delete assistant", ">Edit<"):
        assert control not in detail
    keys = viewer.get("/console/keys/").text
    assert 'action="/console/keys/' not in keys and "Create key" not in keys
    team = viewer.get("/console/team/").text
    assert "Add a member" not in team and 'method="post" action="/console/team' not in team
    scope = viewer.get(f"/console/assistants/{aid}/knowledge").text
    assert "Save scope" not in scope
    assert "viewer</strong> access" in listing


def test_owner_sees_the_controls(corg, aid):
    owner = corg["owner"].client
    assert "New assistant" in owner.get("/console/assistants/").text
    detail = owner.get(f"/console/assistants/{aid}").text
    assert "Promote" in detail and "Delete assistant" in detail
    assert "Create key" in owner.get("/console/keys/").text
    assert "Add a member" in owner.get("/console/team/").text


def test_navigation_lists_every_area_and_marks_the_current_one(corg):
    html = corg["owner"].client.get("/console/keys/").text
    for label in ("Dashboard", "Assistants", "Knowledge", "Sessions", "Conversations",
                  "Analytics", "API keys", "Team"):
        assert f"<span>{label}</span>" in html
    assert 'href="/console/keys/" class="nav-link is-active"' in html


def test_missing_page_is_a_friendly_html_404(corg):
    resp = corg["owner"].client.get("/console/assistants/asst_doesnotexist")
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    assert "Assistant not found." in resp.text and "Not found" in resp.text
    assert "<span>Dashboard</span>" in resp.text  # inside the normal layout


def test_htmx_error_becomes_a_toast_event_not_a_swap(corg):
    resp = corg["owner"].hx_post("/console/assistants/asst_doesnotexist/active",
                                 {"active": "on"})
    assert resp.status_code == 404
    assert '"toast"' in resp.headers["HX-Trigger"]
    assert resp.headers["HX-Reswap"] == "none"


def test_console_static_assets_are_served(client):
    css = client.get("/static/console/app.css")
    assert css.status_code == 200 and ".sidebar" in css.text
    assert client.get("/static/console/app.js").status_code == 200
