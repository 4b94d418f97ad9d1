"""SPEC §1 authentication: header only, hashed keys, revocation, last_used_at."""
from __future__ import annotations

from sqlalchemy import select

from tests.factories import make_key


def test_missing_key_is_401_missing_api_key(client, app):
    resp = client.get("/api/v1/assistants/")
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "missing_api_key"
    assert resp.headers["X-Request-ID"]


def test_unknown_key_is_401_invalid_api_key(client, tenant):
    last = "A" if tenant.secret[-1] != "A" else "B"
    for bogus in ("nope", "cpn_live_" + "x" * 40, tenant.secret[:-1] + last):
        resp = client.get("/api/v1/assistants/", headers={"X-API-Key": bogus})
        assert resp.status_code == 401
        assert resp.json["error"]["code"] == "invalid_api_key"


def test_key_in_query_string_is_refused_even_when_valid(client, tenant):
    resp = client.get(f"/api/v1/assistants/?api_key={tenant.secret}")
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "api_key_in_query"
    # ... and the refused URL never lands in the request log with the key in it.
    from extensions import db
    from models.audit import RequestLog

    with client.application.app_context():
        paths = db.session.execute(select(RequestLog.path)).scalars().all()
    assert all(tenant.secret not in p for p in paths)


def test_revoked_key_stops_working_at_once(app, tenant):
    assert tenant.get("/api/v1/assistants/").status_code == 200
    from services.keys import revoke_key

    with app.app_context():
        revoke_key(tenant.org_id, tenant.key_id)
    resp = tenant.get("/api/v1/assistants/")
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "invalid_api_key"


def test_key_is_stored_only_as_hash(app, tenant):
    from extensions import db
    from models.orgs import ApiKey

    with app.app_context():
        key = db.session.get(ApiKey, tenant.key_id)
        assert key.key_hash != tenant.secret
        assert tenant.secret not in key.key_hash
        assert tenant.secret.startswith(key.prefix) and len(key.prefix) < len(tenant.secret) / 2
        row = db.session.execute(select(ApiKey.__table__)).mappings().all()
        for r in row:
            assert all(tenant.secret not in str(v) for v in r.values())


def test_last_used_at_is_tracked_but_not_rewritten_every_request(app, tenant):
    from extensions import db
    from models.orgs import ApiKey

    tenant.get("/api/v1/assistants/")
    with app.app_context():
        first = db.session.get(ApiKey, tenant.key_id).last_used_at
    assert first is not None
    tenant.get("/api/v1/assistants/")
    with app.app_context():
        assert db.session.get(ApiKey, tenant.key_id).last_used_at == first


def test_two_keys_of_one_org_see_the_same_data(app, tenant):
    _, second = make_key(app, tenant.org_id, name="second")
    created = tenant.post("/api/v1/assistants/", json={"name": "Shared"}).json
    resp = tenant.client.get(f"/api/v1/assistants/{created['id']}",
                             headers={"X-API-Key": second})
    assert resp.status_code == 200


def test_openapi_and_docs_need_no_key(client):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    assert spec.json["openapi"].startswith("3.1")
    assert "/api/v1/assistants/" in spec.json["paths"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"openapi.json" in docs.data


def test_a_request_sees_read_only_snapshots_of_every_key_and_organization_column():
    """current_org() and the key are snapshots the key cache shares between requests:
    they carry every column (a new one cannot go missing) and cannot be changed."""
    from dataclasses import FrozenInstanceError, fields

    import pytest
    from sqlalchemy import inspect

    from models.orgs import ApiKey, ApiKeySnapshot, Organization, OrganizationSnapshot

    for model, snap in ((Organization, OrganizationSnapshot), (ApiKey, ApiKeySnapshot)):
        assert {f.name for f in fields(snap)} == {a.key for a in inspect(model).column_attrs}
    org = OrganizationSnapshot.of(Organization(
        id="org_x", name="X", rate_limit_per_hour=1, session_ttl_seconds=60,
        task_models={"chat": "m"}, languages=["it"], retention_last_result={"a": [1]}))
    with pytest.raises(FrozenInstanceError):
        org.name = "Y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        org.task_models["chat"] = "other"  # type: ignore[index]
    with pytest.raises(AttributeError):
        org.languages.append("en")  # type: ignore[union-attr]
    assert org.retention_last_result["a"] == (1,) and org.task_models.get("chat") == "m"
