"""Team management: owners and admins add people and set roles; owners stay protected."""
from __future__ import annotations

from tests.console.conftest import login


def test_admin_adds_a_viewer_who_can_then_sign_in(app, corg):
    admin = corg["admin"]
    resp = admin.post("/console/team/", {"email": "New.Person@Example.com", "name": "New",
                                         "password": "long-enough-pw", "role": "viewer"})
    assert resp.status_code == 302
    assert "new.person@example.com can sign in now as viewer" in admin.client.get(
        "/console/team/").text
    fresh = app.test_client()
    fresh.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    assert login(fresh, "new.person@example.com", "long-enough-pw").status_code == 302
    assert "Org A" in fresh.get("/console/").text


def test_member_form_errors_are_inline(corg):
    owner = corg["owner"]
    resp = owner.post("/console/team/", {"email": "not-an-email", "password": "short",
                                         "role": "viewer"})
    assert resp.status_code == 422
    assert 'id="email-error"' in resp.text and 'id="password-error"' in resp.text
    dup = owner.post("/console/team/", {"email": corg["viewer"].email,
                                        "password": "long-enough-pw", "role": "viewer"})
    assert dup.status_code == 409 and "already exists" in dup.text


def test_only_an_owner_makes_owners(corg):
    admin = corg["admin"]
    page = admin.client.get("/console/team/").text
    assert '<option value="owner"' not in page
    resp = admin.post("/console/team/", {"email": "boss@example.com",
                                         "password": "long-enough-pw", "role": "owner"})
    assert resp.status_code == 422 and "Only an owner can make another owner." in resp.text
    resp = admin.post(f"/console/team/{corg['viewer'].user_id}/role", {"role": "owner"})
    assert resp.status_code == 422


def test_owner_changes_a_role(corg):
    owner = corg["owner"]
    resp = owner.post(f"/console/team/{corg['viewer'].user_id}/role", {"role": "admin"})
    assert resp.status_code == 302
    assert f"{corg['viewer'].email} is now admin" in owner.client.get("/console/team/").text
    # A role change ends the operator's open sessions (issue 14): they sign in again and
    # can then change things.
    viewer = corg["viewer"]
    assert viewer.client.get("/console/assistants/new").status_code == 302
    login(viewer.client, viewer.email, "correct-horse-battery")
    assert viewer.client.get("/console/assistants/new").status_code == 200


def test_disable_and_enable_a_member(app, corg):
    owner = corg["owner"]
    viewer = corg["viewer"]
    resp = owner.post(f"/console/team/{viewer.user_id}/disable")
    assert resp.status_code == 302
    assert ">disabled<" in owner.client.get("/console/team/").text
    assert viewer.client.get("/console/").status_code == 302
    fresh = app.test_client()
    fresh.environ_base["REMOTE_ADDR"] = "10.9.9.8"
    assert login(fresh, viewer.email, "correct-horse-battery").status_code == 401
    owner.post(f"/console/team/{viewer.user_id}/enable")
    assert login(fresh, viewer.email, "correct-horse-battery").status_code == 302


def test_nobody_disables_themselves_or_an_owner_without_being_one(corg):
    owner, admin = corg["owner"], corg["admin"]
    resp = owner.post(f"/console/team/{owner.user_id}/disable")
    assert resp.status_code == 409 and "your own account" in resp.text
    resp = admin.post(f"/console/team/{owner.user_id}/disable")
    assert resp.status_code == 403
    assert owner.client.get("/console/").status_code == 200
