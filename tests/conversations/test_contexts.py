"""Contexts (SPEC §5): attributes of a session, capped, merged, frozen once it closes."""
from __future__ import annotations

from models.sessions import Context
from tests.conversations.conftest import count, expire_now


def test_create_without_trailing_slash_list_get_and_merge(tenant, session):
    resp = tenant.post("/api/v1/contexts",
                       json={"session_id": session["id"],
                             "attributes": {"plan": "gold", "cart": ["sku-1"], "n": 2}})
    assert resp.status_code == 201, resp.json
    ctx = resp.json
    assert ctx["id"].startswith("ctx_") and ctx["created_at"].endswith("Z")
    listed = tenant.get(f"/api/v1/contexts?session_id={session['id']}").json
    assert [c["id"] for c in listed["items"]] == [ctx["id"]]
    assert tenant.get("/api/v1/contexts/").json["items"][0]["id"] == ctx["id"]
    assert tenant.get(f"/api/v1/contexts/{ctx['id']}").json == ctx
    merged = tenant.patch(f"/api/v1/contexts/{ctx['id']}",
                          json={"attributes": {"n": None, "page": "/checkout"}}).json
    assert merged["attributes"] == {"plan": "gold", "cart": ["sku-1"], "page": "/checkout"}


def test_attribute_caps_are_422_and_store_nothing(app, tenant, session):
    bad = [
        {f"k{i}": i for i in range(51)},
        {"k" * 65: "too long a key"},
        {"blob": "x" * (16 * 1024 + 1)},
        {"nested": {"a": {"b": {"c": "too deep"}}}},
        {"many": list(range(51))},
    ]
    for attributes in bad:
        resp = tenant.post("/api/v1/contexts",
                           json={"session_id": session["id"], "attributes": attributes})
        assert resp.status_code == 422, attributes
        assert "attributes" in resp.json["error"]["details"]["fields"]
    resp = tenant.post("/api/v1/contexts", json={"session_id": session["id"],
                                                 "attributes": "not an object"})
    assert resp.status_code == 422
    assert count(app, Context) == 0


def test_patch_that_would_exceed_caps_changes_nothing(tenant, session):
    ctx = tenant.post("/api/v1/contexts", json={
        "session_id": session["id"], "attributes": {f"k{i}": i for i in range(50)}}).json
    resp = tenant.patch(f"/api/v1/contexts/{ctx['id']}", json={"attributes": {"one_more": 1}})
    assert resp.status_code == 422
    assert len(tenant.get(f"/api/v1/contexts/{ctx['id']}").json["attributes"]) == 50


def test_unknown_session_is_404(app, tenant):
    resp = tenant.post("/api/v1/contexts", json={"session_id": "sess_nope", "attributes": {}})
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
    assert count(app, Context) == 0


def test_closed_session_contexts_are_frozen_but_readable(app, tenant, session):
    ctx = tenant.post("/api/v1/contexts", json={"session_id": session["id"],
                                                "attributes": {"plan": "gold"}}).json
    expire_now(app, session["id"])
    resp = tenant.post("/api/v1/contexts", json={"session_id": session["id"],
                                                 "attributes": {"x": 1}})
    assert resp.status_code == 410 and resp.json["error"]["code"] == "session_expired"
    resp = tenant.patch(f"/api/v1/contexts/{ctx['id']}", json={"attributes": {"x": 1}})
    assert resp.status_code == 410
    assert tenant.get(f"/api/v1/contexts/{ctx['id']}").json["attributes"] == {"plan": "gold"}
    assert count(app, Context) == 1
