"""SPEC §2: one budget per organization, headers on every keyed response, audited 429s."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import func, select

from tests.factories import make_key, make_tenant


def _count(app, model, **filters) -> int:  # noqa: ANN001
    from extensions import db

    with app.app_context():
        stmt = select(func.count()).select_from(model)
        for k, v in filters.items():
            stmt = stmt.where(getattr(model, k) == v)
        return db.session.execute(stmt).scalar_one()


def test_sixth_call_is_429_audited_and_does_not_run_the_view(app):
    from models.assistants import Assistant
    from models.audit import RateLimitEvent

    t = make_tenant(app, "Limited", rate_limit=5)
    for i in range(5):
        resp = t.post("/api/v1/assistants/", json={"name": f"a{i}"})
        assert resp.status_code == 201
        assert resp.headers["X-RateLimit-Limit"] == "5"
        assert resp.headers["X-RateLimit-Remaining"] == str(4 - i)
        assert int(resp.headers["X-RateLimit-Reset"]) > 0
        assert "Retry-After" not in resp.headers
    resp = t.post("/api/v1/assistants/", json={"name": "too many"})
    assert resp.status_code == 429
    assert resp.json["error"]["code"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) > 0
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert _count(app, Assistant, org_id=t.org_id) == 5  # the view did not run
    assert _count(app, RateLimitEvent, org_id=t.org_id) == 1
    from extensions import db

    with app.app_context():
        ev = db.session.execute(select(RateLimitEvent)).scalar_one()
        assert (ev.api_key_id, ev.method, ev.path) == (t.key_id, "POST", "/api/v1/assistants/")
        assert ev.client_ip == "127.0.0.1" and ev.created_at is not None


def test_all_keys_of_an_org_share_one_budget_and_orgs_are_separate(app):
    a = make_tenant(app, "A", rate_limit=3)
    b = make_tenant(app, "B", rate_limit=3)
    _, second = make_key(app, a.org_id, name="second")
    assert a.get("/api/v1/assistants/").status_code == 200
    assert a.get("/api/v1/assistants/", headers={"X-API-Key": second}).status_code == 200
    assert a.get("/api/v1/assistants/").status_code == 200
    assert a.get("/api/v1/assistants/", headers={"X-API-Key": second}).status_code == 429
    assert b.get("/api/v1/assistants/").status_code == 200  # B untouched


def test_unauthenticated_calls_do_not_spend_the_org_budget(app, client):
    t = make_tenant(app, "A", rate_limit=2)
    for _ in range(5):
        assert client.get("/api/v1/assistants/").status_code == 401
    assert t.get("/api/v1/assistants/").status_code == 200


def test_per_org_override_takes_effect(app):
    from extensions import db
    from models.orgs import Organization
    from services.orgs import update_settings

    t = make_tenant(app, "A", rate_limit=1)
    assert t.get("/api/v1/assistants/").status_code == 200
    assert t.get("/api/v1/assistants/").status_code == 429
    with app.app_context():
        update_settings(db.session.get(Organization, t.org_id), rate_limit_per_hour=50)
    resp = t.get("/api/v1/assistants/")
    assert resp.status_code == 200 and resp.headers["X-RateLimit-Limit"] == "50"


@pytest.mark.services
def test_two_processes_sharing_redis_accept_exactly_the_limit(app):
    """Two separate Python processes, each with its own app, against the same Redis."""
    t = make_tenant(app, "Shared", rate_limit=5)
    script = textwrap.dedent(f"""
        import json, sys
        from factory import create_app
        app = create_app({{"TESTING": True}})
        c = app.test_client()
        codes = [c.get("/api/v1/assistants/", headers={{"X-API-Key": {t.secret!r}}}).status_code
                 for _ in range(5)]
        print(json.dumps(codes))
    """)
    env = {**os.environ}
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=env, cwd=os.getcwd())
             for _ in range(2)]
    codes = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        import json

        codes += json.loads(out.decode().strip().splitlines()[-1])
    assert codes.count(200) == 5 and codes.count(429) == 5
    from models.audit import RateLimitEvent

    assert _count(app, RateLimitEvent, org_id=t.org_id) == 5
