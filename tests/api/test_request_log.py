"""SPEC §2: every keyed request is logged with its route template, status and latency."""
from __future__ import annotations

from sqlalchemy import select

from tests.factories import make_tenant


def _rows(app, flush: bool = True):  # noqa: ANN001, ANN202
    from extensions import db
    from models.audit import RequestLog

    with app.app_context():
        if flush:
            app.extensions["companin_request_log"].flush()
        return db.session.execute(select(RequestLog).order_by(RequestLog.id)).scalars().all()


def test_success_4xx_and_429_are_logged(app):
    t = make_tenant(app, "Logged", rate_limit=3)
    ok = t.post("/api/v1/assistants/", json={"name": "x"})
    missing = t.get("/api/v1/assistants/asst_nothing")
    bad = t.post("/api/v1/assistants/", json={"name": ""})
    limited = t.get("/api/v1/assistants/")
    assert [r.status_code for r in (ok, missing, bad, limited)] == [201, 404, 422, 429]
    rows = _rows(app)
    assert [r.status for r in rows] == [201, 404, 422, 429]
    assert rows[1].route == "/api/v1/assistants/<assistant_id>"
    assert rows[1].path == "/api/v1/assistants/asst_nothing"
    for row, resp in zip(rows, (ok, missing, bad, limited), strict=True):
        assert row.org_id == t.org_id and row.api_key_id == t.key_id
        assert row.request_id == resp.headers["X-Request-ID"]
        assert row.latency_ms >= 0 and row.method in {"GET", "POST"}


def test_unauthenticated_and_unknown_routes_are_logged_without_org(app, client):
    client.get("/api/v1/assistants/")
    client.get("/api/v1/nowhere", headers={"X-API-Key": "cpn_live_nope"})
    rows = _rows(app)
    assert [(r.status, r.org_id, r.api_key_id) for r in rows] == [(401, None, None),
                                                                  (401, None, None)]


def test_public_and_console_paths_are_not_logged(app, client):
    client.get("/api/v1/openapi.json")
    client.get("/api/docs")
    assert _rows(app) == []


def test_batched_writer_flushes_rows(app):
    from services.request_log import RequestLogWriter

    t = make_tenant(app, "Batch")
    original = app.extensions["companin_request_log"]
    batched = app.extensions["companin_request_log"] = RequestLogWriter(app, flush_seconds=60)
    try:
        for _ in range(3):
            t.get("/api/v1/assistants/")
        assert _rows(app, flush=False) == []  # queued, not yet written
        batched.flush()  # one INSERT for the three rows
    finally:
        app.extensions["companin_request_log"] = original
    rows = _rows(app)
    assert [r.status for r in rows] == [200, 200, 200]
