"""Sessions (SPEC §5): anonymous and authenticated, TTL, metadata, ending, listing."""
from __future__ import annotations

import json
import threading

import pytest

from models.sessions import EndUser, Session
from tests.conversations.conftest import count, expire_now, open_session


def test_anonymous_session_uses_the_org_default_ttl(tenant, assistant):
    s = open_session(tenant, assistant["id"], channel="web", metadata={"page": "/pricing"})
    assert s["id"].startswith("sess_")
    assert (s["anonymous"], s["user"], s["end_user_id"], s["active"]) == (True, None, None, True)
    assert s["channel"] == "web" and s["metadata"] == {"page": "/pricing"}
    assert s["expires_at"].endswith("Z") and s["ended_at"] is None
    from datetime import datetime

    created = datetime.fromisoformat(s["created_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(s["expires_at"].replace("Z", "+00:00"))
    assert round((expires - created).total_seconds()) == 1800  # organization default
    assert tenant.get(f"/api/v1/sessions/{s['id']}").json == s


def test_same_person_on_two_channels_is_one_end_user(app, tenant, assistant):
    web = open_session(tenant, assistant["id"], channel="web",
                       user={"external_id": "crm-42", "name": "Ada", "plan": "gold"})
    wa = open_session(tenant, assistant["id"], channel="whatsapp",
                      user={"external_id": "crm-42", "email": "ada@example.com"})
    assert web["anonymous"] is False and web["end_user_id"].startswith("eu_")
    assert web["end_user_id"] == wa["end_user_id"]
    assert web["user"] == {"external_id": "crm-42", "name": "Ada", "plan": "gold"}
    assert count(app, EndUser) == 1
    with app.app_context():
        from extensions import db

        person = db.session.get(EndUser, web["end_user_id"])
        assert (person.name, person.email, person.attributes) == (
            "Ada", "ada@example.com", {"plan": "gold"})
    listed = tenant.get("/api/v1/sessions/?external_id=crm-42").json["items"]
    assert {s["id"] for s in listed} == {web["id"], wa["id"]}
    only_wa = tenant.get("/api/v1/sessions/?channel=whatsapp").json["items"]
    assert [s["id"] for s in only_wa] == [wa["id"]]


def test_the_same_external_id_in_two_orgs_is_two_people(app, tenant, other_tenant, assistant):
    other_asst = other_tenant.post("/api/v1/assistants/", json={"name": "B"}).json
    a = open_session(tenant, assistant["id"], user={"external_id": "u1"})
    b = open_session(other_tenant, other_asst["id"], user={"external_id": "u1"})
    assert a["end_user_id"] != b["end_user_id"]
    assert count(app, EndUser) == 2


def test_ttl_bounds_and_custom_ttl(app, tenant, assistant):
    for bad in (59, 30 * 86400 + 1, "soon"):
        resp = tenant.post("/api/v1/sessions/",
                           json={"assistant_id": assistant["id"], "ttl_seconds": bad})
        assert resp.status_code == 422
        assert "ttl_seconds" in resp.json["error"]["details"]["fields"]
    assert count(app, Session) == 0
    s = open_session(tenant, assistant["id"], ttl_seconds=60)
    assert s["active"] is True


def test_patch_extends_ttl_and_merges_metadata(tenant, session):
    sid = session["id"]
    tenant.patch(f"/api/v1/sessions/{sid}", json={"metadata": {"a": 1, "b": 2}})
    resp = tenant.patch(f"/api/v1/sessions/{sid}",
                        json={"ttl_seconds": 7200, "metadata": {"a": None, "c": [1, 2]}})
    assert resp.status_code == 200
    body = resp.json
    assert body["metadata"] == {"b": 2, "c": [1, 2]}  # null deleted "a"
    assert body["expires_at"] > session["expires_at"]


def test_expired_session_cannot_be_extended_but_stays_readable(app, tenant, session):
    expire_now(app, session["id"])
    resp = tenant.patch(f"/api/v1/sessions/{session['id']}", json={"ttl_seconds": 600})
    assert resp.status_code == 410 and resp.json["error"]["code"] == "session_expired"
    got = tenant.get(f"/api/v1/sessions/{session['id']}").json
    assert got["active"] is False
    # metadata remains editable (annotations about the past)
    resp = tenant.patch(f"/api/v1/sessions/{session['id']}", json={"metadata": {"x": 1}})
    assert resp.status_code == 200 and resp.json["metadata"]["x"] == 1


def test_delete_ends_the_session_idempotently(tenant, session):
    sid = session["id"]
    assert tenant.delete(f"/api/v1/sessions/{sid}").status_code == 204
    first = tenant.get(f"/api/v1/sessions/{sid}").json
    assert first["active"] is False and first["end_reason"] == "ended"
    assert tenant.delete(f"/api/v1/sessions/{sid}").status_code == 204
    assert tenant.get(f"/api/v1/sessions/{sid}").json["ended_at"] == first["ended_at"]


def test_active_filter_and_assistant_filter(app, tenant, assistant):
    other = tenant.post("/api/v1/assistants/", json={"name": "Sales"}).json
    live = open_session(tenant, assistant["id"])
    old = open_session(tenant, assistant["id"])
    ended = open_session(tenant, other["id"])
    expire_now(app, old["id"])
    tenant.delete(f"/api/v1/sessions/{ended['id']}")
    ids = lambda q: {s["id"] for s in tenant.get(f"/api/v1/sessions/?{q}").json["items"]}  # noqa: E731
    assert ids("active=true") == {live["id"]}
    assert ids("active=false") == {old["id"], ended["id"]}
    assert ids(f"assistant_id={other['id']}") == {ended["id"]}
    assert tenant.get("/api/v1/sessions/?active=maybe").status_code == 422


def test_unknown_or_paused_assistant(app, tenant, assistant):
    resp = tenant.post("/api/v1/sessions/", json={"assistant_id": "asst_doesnotexist"})
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
    tenant.patch(f"/api/v1/assistants/{assistant['id']}", json={"is_active": False})
    resp = tenant.post("/api/v1/sessions/", json={"assistant_id": assistant["id"]})
    assert resp.status_code == 409 and resp.json["error"]["code"] == "assistant_inactive"
    assert count(app, Session) == 0


def test_bad_session_bodies_store_nothing(app, tenant, assistant):
    aid = assistant["id"]
    bodies = [
        {"assistant_id": aid, "surprise": 1},
        {"assistant_id": aid, "user": {"name": "no external id"}},
        {"assistant_id": aid, "user": {"external_id": "  "}},
        {"assistant_id": aid, "user": {"external_id": "u", "email": "not-an-email"}},
        {"assistant_id": aid, "metadata": {f"k{i}": i for i in range(51)}},
        {"assistant_id": aid, "metadata": {"x" * 65: 1}},
        {"assistant_id": aid, "metadata": {"deep": {"a": {"b": {"c": 1}}}}},
        {"assistant_id": aid, "user": {"external_id": "u", "blob": "x" * 17000}},
    ]
    for body in bodies:
        resp = tenant.post("/api/v1/sessions/", json=body)
        assert resp.status_code == 422, (body, resp.json)
        assert resp.json["error"]["code"] == "validation_error"
    assert count(app, Session) == 0 and count(app, EndUser) == 0


def test_cli_marks_expired_sessions(app, tenant, assistant):
    live = open_session(tenant, assistant["id"])
    old = open_session(tenant, assistant["id"])
    expire_now(app, old["id"])
    result = app.test_cli_runner().invoke(args=["sessions", "expire"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"expired": 1}
    stamped = tenant.get(f"/api/v1/sessions/{old['id']}").json
    assert stamped["end_reason"] == "expired" and stamped["ended_at"] == stamped["expires_at"]
    assert tenant.get(f"/api/v1/sessions/{live['id']}").json["active"] is True
    again = app.test_cli_runner().invoke(args=["sessions", "expire"])
    assert json.loads(again.output) == {"expired": 0}


@pytest.mark.services
def test_concurrent_first_sessions_of_one_person_make_one_end_user(app, tenant, assistant):
    """Two channels opening the first session of the same person at the same moment race
    on the (org, external_id) unique constraint; the loser re-reads the winner's row."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.factories import Tenant

    barrier = threading.Barrier(4)

    def open_one(channel: str) -> int:
        client = Tenant(tenant.org_id, tenant.key_id, tenant.secret, app.test_client())
        barrier.wait()
        return client.post("/api/v1/sessions/", json={
            "assistant_id": assistant["id"], "channel": channel,
            "user": {"external_id": "same-person"}}).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(open_one, ["web", "whatsapp", "email", "app"]))
    assert statuses == [201] * 4
    assert count(app, EndUser) == 1 and count(app, Session) == 4
