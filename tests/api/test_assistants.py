"""Assistant lifecycle (SPEC §3): versions, promotion, rollback, switch, delete."""
from __future__ import annotations


def test_create_makes_version_one_live(tenant):
    resp = tenant.post("/api/v1/assistants/", json={
        "name": "Concierge", "language": "it", "tone": "warm",
        "task_models": {"chat": "claude-sonnet-4-5"}})
    assert resp.status_code == 201
    a = resp.json
    assert a["id"].startswith("asst_")
    assert (a["live_version"], a["latest_version"], a["is_active"]) == (1, 1, True)
    assert a["created_at"].endswith("Z")
    assert a["knowledge"] == {"mode": "all", "linked": [], "excluded": []}
    versions = tenant.get(f"/api/v1/assistants/{a['id']}/versions").json["items"]
    assert [(v["number"], v["is_live"]) for v in versions] == [(1, True)]


def test_language_is_normalized_bcp47(tenant):
    a = tenant.post("/api/v1/assistants/", json={"name": "x", "language": "EN-us"}).json
    assert a["language"] == "en-US"


def test_patch_without_promote_leaves_live_version_serving(tenant, assistant):
    aid = assistant["id"]
    resp = tenant.patch(f"/api/v1/assistants/{aid}", json={"tone": "formal"})
    assert resp.status_code == 200
    body = resp.json
    assert body["tone"] == "friendly"  # the live version still serves
    assert (body["live_version"], body["latest_version"]) == (1, 2)
    draft = tenant.get(f"/api/v1/assistants/{aid}/versions/2").json
    assert draft["tone"] == "formal" and draft["is_live"] is False
    assert draft["instructions"] == assistant["instructions"]  # built on the latest


def test_patch_with_promote_goes_live_at_once(tenant, assistant):
    aid = assistant["id"]
    body = tenant.patch(f"/api/v1/assistants/{aid}",
                        json={"instructions": "Be brief.", "promote": True}).json
    assert (body["live_version"], body["latest_version"]) == (2, 2)
    assert body["instructions"] == "Be brief."


def test_promote_and_rollback(tenant, assistant):
    aid = assistant["id"]
    tenant.patch(f"/api/v1/assistants/{aid}", json={"tone": "formal"})
    promoted = tenant.post(f"/api/v1/assistants/{aid}/versions/2/promote")
    assert promoted.status_code == 200
    assert (promoted.json["tone"], promoted.json["live_version"]) == ("formal", 2)
    rolled = tenant.post(f"/api/v1/assistants/{aid}/versions/1/promote").json
    assert (rolled["tone"], rolled["live_version"], rolled["latest_version"]) == (
        "friendly", 1, 2)
    live = [v["number"] for v in tenant.get(f"/api/v1/assistants/{aid}/versions").json["items"]
            if v["is_live"]]
    assert live == [1]


def test_promote_unknown_version_is_404(tenant, assistant):
    resp = tenant.post(f"/api/v1/assistants/{assistant['id']}/versions/9/promote")
    assert resp.status_code == 404


def test_versions_cannot_be_edited(app, tenant, assistant):
    aid = assistant["id"]
    for method in ("patch", "put", "delete"):
        resp = getattr(tenant, method)(f"/api/v1/assistants/{aid}/versions/1", json={"tone": "x"})
        assert resp.status_code == 405
    import pytest
    from sqlalchemy import select

    from extensions import db
    from models.assistants import AssistantVersion

    with app.app_context():
        v = db.session.execute(select(AssistantVersion)).scalars().first()
        v.tone = "tampered"
        with pytest.raises(RuntimeError):
            db.session.commit()
        db.session.rollback()


def test_identical_patch_creates_no_version(tenant, assistant):
    aid = assistant["id"]
    body = tenant.patch(f"/api/v1/assistants/{aid}", json={"tone": "friendly"}).json
    assert body["latest_version"] == 1


def test_is_active_toggles_without_a_version(tenant, assistant):
    aid = assistant["id"]
    body = tenant.patch(f"/api/v1/assistants/{aid}", json={"is_active": False}).json
    assert body["is_active"] is False and body["latest_version"] == 1
    body = tenant.patch(f"/api/v1/assistants/{aid}", json={"is_active": True}).json
    assert body["is_active"] is True and body["latest_version"] == 1


def test_delete_hides_assistant(tenant, assistant):
    aid = assistant["id"]
    assert tenant.delete(f"/api/v1/assistants/{aid}").status_code == 204
    assert tenant.get(f"/api/v1/assistants/{aid}").status_code == 404
    assert tenant.get("/api/v1/assistants/").json["items"] == []
    assert tenant.delete(f"/api/v1/assistants/{aid}").status_code == 404


def test_list_is_newest_first_with_cursor(tenant):
    ids = [tenant.post("/api/v1/assistants/", json={"name": f"A{i}"}).json["id"]
           for i in range(5)]
    first = tenant.get("/api/v1/assistants/?limit=2").json
    assert [a["id"] for a in first["items"]] == ids[::-1][:2]
    seen = [a["id"] for a in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = tenant.get(f"/api/v1/assistants/?limit=2&cursor={cursor}").json
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
    assert seen == ids[::-1]


def test_list_limit_bounds_and_bad_cursor(tenant):
    assert tenant.get("/api/v1/assistants/?limit=0").status_code == 422
    assert tenant.get("/api/v1/assistants/?limit=101").status_code == 422
    resp = tenant.get("/api/v1/assistants/?cursor=!!!garbage")
    assert resp.status_code == 422
    assert "cursor" in resp.json["error"]["details"]["fields"]


def test_other_org_ids_are_404_on_every_assistant_route(tenant, other_tenant, assistant):
    aid = assistant["id"]
    missing = tenant.get("/api/v1/assistants/asst_doesnotexist000000000000")
    calls = [
        ("get", f"/api/v1/assistants/{aid}", None),
        ("patch", f"/api/v1/assistants/{aid}", {"tone": "evil"}),
        ("delete", f"/api/v1/assistants/{aid}", None),
        ("get", f"/api/v1/assistants/{aid}/versions", None),
        ("get", f"/api/v1/assistants/{aid}/versions/1", None),
        ("post", f"/api/v1/assistants/{aid}/versions/1/promote", None),
    ]
    for method, path, body in calls:
        kwargs = {"json": body} if body is not None else {}
        resp = getattr(other_tenant, method)(path, **kwargs)
        assert resp.status_code == 404, (method, path)
        assert resp.json["error"]["code"] == missing.json["error"]["code"]
    assert other_tenant.get("/api/v1/assistants/").json["items"] == []
    # and nothing changed for the owner
    assert tenant.get(f"/api/v1/assistants/{aid}").json["tone"] == "friendly"
