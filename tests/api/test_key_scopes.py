"""Issue 14 item 1 — scoped, expiring keys with their own limit (SPEC §12).

The scope matrix is generated from the OpenAPI document: every keyed operation names its
scope, a key holding every other scope gets 403 `insufficient_scope` naming it, and a key
holding only that scope gets past the check.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from errors import ValidationFailed
from services.keys import DEFAULT_SCOPES, SCOPES
from tests.factories import Tenant, make_key, make_org


def _tenant(app, org_id: str, **settings) -> Tenant:  # noqa: ANN001, ANN003
    key_id, secret = make_key(app, org_id, **settings)
    return Tenant(org_id=org_id, key_id=key_id, secret=secret, client=app.test_client())


def _operations(app) -> list[tuple[str, str, str]]:  # noqa: ANN001
    spec = app.test_client().get("/api/v1/openapi.json").json
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if op.get("security"):
                assert op.get("x-required-scope") in SCOPES, (method, path)
                assert "403" in op["responses"], (method, path)
                out.append((method.upper(), path, op["x-required-scope"]))
    return out


def _url(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: "1" if m.group(1) == "number" else "x_missing", path)


def test_every_operation_refuses_a_key_without_its_scope(app):
    org_id = make_org(app, "Scoped", 100_000)
    ops = _operations(app)
    assert len(ops) > 40 and {s for *_, s in ops} >= set(SCOPES) - {"webhooks:manage",
                                                                    "audit:read"}
    keys = {scope: _tenant(app, org_id, scopes=[s for s in SCOPES if s != scope])
            for scope in {s for *_, s in ops}}
    only = {scope: _tenant(app, org_id, scopes=[scope]) for scope in keys}
    for method, path, scope in ops:
        resp = keys[scope]._call(method, _url(path), json={})
        assert resp.status_code == 403, (method, path, resp.status_code, resp.json)
        assert resp.json["error"]["code"] == "insufficient_scope", (method, path)
        assert resp.json["error"]["details"] == {"required_scope": scope}
        allowed = only[scope]._call(method, _url(path), json={})
        assert allowed.status_code != 403, (method, path, allowed.json)


def test_default_keys_read_and_write_but_do_not_manage_keys(app):
    org_id = make_org(app, "Defaults", 100_000)
    plain = _tenant(app, org_id)
    assert plain.post("/api/v1/assistants/", json={"name": "A"}).status_code == 201
    assert plain.get("/analytics/usage/").status_code == 200
    resp = plain.get("/api/v1/keys/")
    assert resp.status_code == 403 and resp.json["error"]["details"] == {
        "required_scope": "keys:manage"}


def test_a_read_only_key_reads_and_is_refused_writes(app):
    org_id = make_org(app, "Partner", 100_000)
    admin = _tenant(app, org_id)
    aid = admin.post("/api/v1/assistants/", json={"name": "A"}).json["id"]
    partner = _tenant(app, org_id, scopes=["assistants:read", "conversations:read"])
    assert partner.get(f"/api/v1/assistants/{aid}").status_code == 200
    resp = partner.patch(f"/api/v1/assistants/{aid}", json={"tone": "rude"})
    assert resp.status_code == 403
    assert resp.json["error"]["details"]["required_scope"] == "assistants:write"
    assert admin.get(f"/api/v1/assistants/{aid}").json["tone"] == ""  # nothing changed


def test_an_expired_key_is_401_key_expired(app):
    from extensions import db
    from models.orgs import ApiKey
    from models.types import utcnow

    org_id = make_org(app, "Expiring", 100_000)
    soon = _tenant(app, org_id, expires_at=utcnow() + timedelta(days=30))
    assert soon.get("/api/v1/assistants/").status_code == 200
    with app.app_context():  # time passing, as an ORM change (services mode caches keys)
        db.session.get(ApiKey, soon.key_id).expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    resp = soon.get("/api/v1/assistants/")
    assert resp.status_code == 401 and resp.json["error"]["code"] == "key_expired"
    with pytest.raises(ValidationFailed) as refused:
        make_key(app, org_id, expires_at=utcnow() - timedelta(days=1))
    assert refused.value.fields == {"expires_at": ["Choose a time in the future."]}


def test_a_keys_own_limit_refuses_inside_the_organizations_budget(app):
    from models.audit import RateLimitEvent

    org_id = make_org(app, "Shared", 10)
    capped = _tenant(app, org_id, rate_limit_per_hour=2)
    other = _tenant(app, org_id)
    assert [capped.get("/api/v1/assistants/").status_code for _ in range(3)] == [200, 200, 429]
    refused = capped.get("/api/v1/assistants/")
    assert refused.json["error"]["code"] == "rate_limited"
    assert "this key" in refused.json["error"]["details"]["limit"]
    # The organization's budget counted every call: 4 spent of 10, so 6 are left.
    ok = other.get("/api/v1/assistants/")
    assert ok.status_code == 200 and ok.headers["X-RateLimit-Remaining"] == "5"
    with app.app_context():
        from extensions import db

        assert db.session.execute(select(func.count()).select_from(RateLimitEvent).where(
            RateLimitEvent.api_key_id == capped.key_id)).scalar_one() == 2
    with pytest.raises(ValidationFailed) as refused:
        make_key(app, org_id, rate_limit_per_hour=11)
    assert "organization's own limit" in refused.value.fields["rate_limit_per_hour"][0]


def test_keys_are_managed_through_the_api_with_keys_manage(app, other_tenant):
    org_id = make_org(app, "Managed", 100_000)
    manager = _tenant(app, org_id, scopes=list(SCOPES))
    created = manager.post("/api/v1/keys/", json={
        "name": "partner", "scopes": ["assistants:read"],
        "expires_at": "2099-01-31T00:00:00Z", "rate_limit_per_hour": 50})
    assert created.status_code == 201, created.json
    body = created.json
    assert body["secret"].startswith("cpn_live_") and body["scopes"] == ["assistants:read"]
    assert body["expires_at"] == "2099-01-31T00:00:00Z" and body["rate_limit_per_hour"] == 50
    partner = Tenant(org_id=org_id, key_id=body["id"], secret=body["secret"],
                     client=app.test_client())
    assert partner.get("/api/v1/assistants/").status_code == 200
    assert partner.post("/api/v1/assistants/", json={"name": "x"}).status_code == 403
    listed = manager.get("/api/v1/keys/").json["items"]
    assert {k["id"] for k in listed} == {manager.key_id, body["id"]}
    assert all("secret" not in k for k in listed)
    assert "secret" not in manager.get(f"/api/v1/keys/{body['id']}").json

    # keys:manage is granted by the console and the CLI only, never by a key.
    refused = manager.post("/api/v1/keys/", json={"scopes": ["keys:manage"]})
    assert refused.status_code == 422 and "scopes" in refused.json["error"]["details"]["fields"]
    refused = manager.patch(f"/api/v1/keys/{body['id']}", json={"scopes": ["keys:manage"]})
    assert refused.status_code == 422

    changed = manager.patch(f"/api/v1/keys/{body['id']}", json={
        "scopes": ["assistants:read", "assistants:write"], "expires_at": None})
    assert changed.status_code == 200 and changed.json["expires_at"] is None
    assert partner.post("/api/v1/assistants/", json={"name": "x"}).status_code == 201
    revoked = manager.post(f"/api/v1/keys/{body['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json["is_active"] is False
    assert partner.get("/api/v1/assistants/").status_code == 401

    # Another organization's keys are not there.
    assert manager.get(f"/api/v1/keys/{other_tenant.key_id}").status_code == 404
    assert manager.post(f"/api/v1/keys/{other_tenant.key_id}/revoke").status_code == 404
    assert other_tenant.get("/api/v1/assistants/").status_code == 200


def test_the_cli_mints_scoped_expiring_keys_and_keys_manage(app):
    org_id = make_org(app, "Cli", 100_000)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["key", "create", "--org", org_id, "--name", "admin tool",
                                 "--scopes", "keys:manage,assistants:read",
                                 "--expires-at", "2099-06-30T00:00:00Z"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["scopes"] == ["assistants:read", "keys:manage"]
    assert out["expires_at"].startswith("2099-06-30")
    admin = Tenant(org_id=org_id, key_id=out["id"], secret=out["api_key"],
                   client=app.test_client())
    assert admin.get("/api/v1/keys/").status_code == 200
    bad = runner.invoke(args=["key", "create", "--org", org_id, "--scopes", "everything"])
    assert bad.exit_code == 1 and "Unknown scope" in (bad.output + (bad.stderr or ""))
    default = json.loads(runner.invoke(args=["key", "create", "--org", org_id]).output)
    assert default["scopes"] == list(DEFAULT_SCOPES)
