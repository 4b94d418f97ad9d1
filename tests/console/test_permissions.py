"""Access rules driven from the URL map, so a new console route is covered by itself:
a viewer is refused (403) on every state-changing route, and another organization's ids
answer 404 on every route that takes an id."""
from __future__ import annotations

import re

import pytest

from tests.console.conftest import make_story

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# Signing in and out are not changes to the organization: every role may do them.
# Posts that change nothing: signing in and out, and trying an assistant (the preview
# panel stores no conversation, so viewers may use it as they use the search tester).
OPEN_TO_ALL = {"console_auth.login", "console_auth.logout", "console_assistants.preview"}


def console_rules(app):
    return [r for r in app.url_map.iter_rules()
            if r.rule.startswith("/console") and r.endpoint != "static"]


def mutating_rules(app):
    return [r for r in console_rules(app)
            if (r.methods or set()) & MUTATING and r.endpoint not in OPEN_TO_ALL]


def fill(rule, ids: dict[str, str]) -> str:
    """The rule's path with each <param> replaced by the matching id (or 1 for ints)."""
    def sub(match: re.Match) -> str:
        converter, name = match.group(1), match.group(2)
        if converter == "int":
            return "1"
        assert name in ids, f"no test id for <{name}> in {rule.rule}: add one to the fixture"
        return ids[name]
    return re.sub(r"<(?:(\w+):)?(\w+)>", sub, rule.rule)


def _webhook(tenant, run_jobs) -> dict[str, str]:  # noqa: ANN001
    """A webhook whose evaluation.finished delivery exists (it fails: nothing listens)."""
    hook = tenant.post("/api/v1/webhooks/", json={"url": "http://127.0.0.1:9/hook",
                                                  "events": ["evaluation.finished"]})
    assert hook.status_code == 201, hook.json
    return {"webhook_id": hook.json["id"]}


def _delivery(tenant, run_jobs, ids: dict[str, str]) -> str:  # noqa: ANN001
    run_jobs()
    items = tenant.get(f"/api/v1/webhooks/{ids['webhook_id']}/deliveries").json["items"]
    assert items, "the evaluation made a delivery"
    return items[0]["id"]


@pytest.fixture
def allow_loopback_webhooks(app, monkeypatch):
    from services.knowledge.url_guard import parse_networks

    monkeypatch.setitem(app.config, "OUTBOUND_ALLOW_CIDRS", parse_networks("127.0.0.1/32"))


@pytest.fixture
def ids(corg, run_jobs, allow_loopback_webhooks) -> dict[str, str]:
    """One real object of each kind in the viewer's own organization."""
    story = make_story(corg.tenant, run_jobs)
    hook = _webhook(corg.tenant, run_jobs)
    test = corg.tenant.post(f"/api/v1/assistants/{story.assistant_id}/tests",
                            json={"question": "Ship?", "expect_source_ids": [story.source_id]})
    assert test.status_code == 201, test.json
    ev = corg.tenant.post(f"/api/v1/assistants/{story.assistant_id}/versions/1/evaluations")
    assert ev.status_code == 202, ev.json
    run_jobs()
    return {**story.ids(), **hook, "delivery_id": _delivery(corg.tenant, run_jobs, hook),
            "key_id": corg.tenant.key_id, "user_id": corg["admin"].user_id,
            "message_id": story.reply_id, "test_id": test.json["id"],
            "evaluation_id": ev.json["id"], "end_user_id": corg.tenant.get(
                f"/api/v1/sessions/{story.session_id}").json["end_user_id"]}


@pytest.fixture
def foreign_ids(other_corg, run_jobs, allow_loopback_webhooks) -> dict[str, str]:
    story = make_story(other_corg.tenant, run_jobs)
    hook = _webhook(other_corg.tenant, run_jobs)
    test = other_corg.tenant.post(f"/api/v1/assistants/{story.assistant_id}/tests",
                                  json={"question": "Ship?", "expect_no_answer": False})
    assert test.status_code == 201, test.json
    ev = other_corg.tenant.post(
        f"/api/v1/assistants/{story.assistant_id}/versions/1/evaluations")
    assert ev.status_code == 202, ev.json
    run_jobs()
    return {**story.ids(), **hook, "delivery_id": _delivery(other_corg.tenant, run_jobs, hook),
            "key_id": other_corg.tenant.key_id,
            "user_id": other_corg["admin"].user_id, "message_id": story.reply_id,
            "test_id": test.json["id"], "evaluation_id": ev.json["id"],
            "end_user_id": other_corg.tenant.get(
                f"/api/v1/sessions/{story.session_id}").json["end_user_id"]}


def test_the_url_map_has_the_routes_these_tests_drive(app):
    endpoints = {r.endpoint for r in mutating_rules(app)}
    assert {"console_assistants.create", "console_assistants.set_active",
            "console_versions.promote", "console_keys.revoke",
            "console_team.set_role"} <= endpoints


def test_viewer_gets_403_on_every_mutating_route_and_nothing_changes(app, corg, ids):
    viewer = corg["viewer"]
    checked = []
    for rule in mutating_rules(app):
        path = fill(rule, ids)
        for method in sorted((rule.methods or set()) & MUTATING):
            resp = viewer.client.open(path, method=method,
                                      data={"csrf_token": viewer.csrf, "name": "x",
                                            "role": "owner", "active": "on", "mode": "linked"})
            assert resp.status_code == 403, (method, path, resp.status_code)
            assert "viewer" in resp.text
            hx = viewer.client.open(path, method=method, data={"csrf_token": viewer.csrf},
                                    headers={"HX-Request": "true"})
            assert hx.status_code == 403 and '"toast"' in hx.headers["HX-Trigger"]
            checked.append((method, rule.endpoint))
    assert len(checked) >= 12
    api = corg.tenant.get(f"/api/v1/assistants/{ids['assistant_id']}")
    assert api.status_code == 200  # the viewer's "revoke" did not revoke the org's key
    assert (api.json["is_active"], api.json["latest_version"]) == (True, 1)
    assert api.json["knowledge"]["mode"] == "all"
    from extensions import db
    from models.orgs import User

    with app.app_context():
        assert db.session.get(User, corg["admin"].user_id).role == "admin"
        assert db.session.get(User, corg["admin"].user_id).disabled_at is None


def test_every_mutating_view_is_marked_requires_write(app):
    """Belt and braces: the decorator is on each view (the GET+POST scope editor applies
    it to its POST branch, checked behaviourally above)."""
    for rule in mutating_rules(app):
        view = app.view_functions[rule.endpoint]
        if rule.methods & {"GET"}:
            continue
        assert getattr(view, "requires_write", False), rule.endpoint


def test_other_orgs_ids_are_404_on_every_route_that_takes_one(app, corg, foreign_ids):
    owner = corg["owner"]
    checked = 0
    for rule in console_rules(app):
        if not rule.arguments - {"number"}:
            continue
        path = fill(rule, foreign_ids)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            resp = owner.client.open(path, method=method,
                                     data={"csrf_token": owner.csrf, "role": "viewer",
                                           "name": "x", "mode": "all"})
            assert resp.status_code == 404, (method, path, resp.status_code)
            checked += 1
    assert checked >= 12
    # ... and the other organization's objects are untouched.
    from extensions import db
    from models.assistants import Assistant
    from models.orgs import ApiKey, User

    with app.app_context():
        assert db.session.get(Assistant, foreign_ids["assistant_id"]).deleted_at is None
        assert db.session.get(ApiKey, foreign_ids["key_id"]).revoked_at is None
        assert db.session.get(User, foreign_ids["user_id"]).role == "admin"


def test_unknown_ids_look_exactly_like_foreign_ones(corg, foreign_ids):
    owner = corg["owner"].client
    foreign = owner.get(f"/console/assistants/{foreign_ids['assistant_id']}")
    missing = owner.get("/console/assistants/asst_000000000000000000000000")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.text.replace(foreign_ids["assistant_id"], "X") == missing.text.replace(
        "asst_000000000000000000000000", "X")
