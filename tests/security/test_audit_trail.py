"""The audit trail (SPEC §12 item 2), generated from the URL map: every mutating keyed
route either writes an audit event naming the key, the request and the address, or is
listed as traffic with the reason; a new route in neither list fails the test. Reads write
nothing, no event holds a secret, and no route edits or deletes an event."""
from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from tests.knowledge.helpers import upload
from tests.security.test_tenant_isolation import _variants, keyed_routes

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# Traffic, not configuration: its record is the session, the conversation, the feedback
# and the request log, which retention trims; auditing it would make the trail a copy.
TRAFFIC = {
    "assistants.preview": "answers a question and stores nothing",
    "knowledge.search": "a read sent as POST",
    "sessions.create": "end-user traffic", "sessions.update": "end-user traffic",
    "sessions.delete": "end-user traffic", "contexts.create": "end-user traffic",
    "contexts.update": "end-user traffic", "conversations.create": "end-user traffic",
    "conversations.post_message": "end-user traffic",
    "conversations.create_feedback": "end-user traffic (its own record)",
}


@dataclass
class Step:
    endpoint: str
    method: str
    path: str  # formatted with the state's ids
    action: str  # the action one of the step's events must carry
    kwargs: Callable[[dict[str, str]], dict[str, Any]] = lambda ids: {}
    save: str | None = None  # keep the response's id under this name


def _failed_job(tenant, run_jobs) -> str:  # noqa: ANN001
    resp = upload(tenant, b"%PDF-1.4\n this is not really a PDF \n%%EOF", "broken.pdf")
    assert resp.status_code == 202, resp.json
    run_jobs()
    job = tenant.get(f"/api/v1/jobs/{resp.json['job_id']}").json
    assert job["status"] == "failed", job
    return job["id"]


STEPS = [
    Step("webhooks.create", "POST", "/api/v1/webhooks/", "webhook.created",
         lambda ids: {"json": {"url": ids["receiver"], "events": ["assistant.version_promoted"]}},
         save="webhook"),
    Step("assistants.create", "POST", "/api/v1/assistants/", "assistant.created",
         lambda ids: {"json": {"name": "Audited", "tone": "warm"}}, save="asst"),
    Step("assistants.update", "PATCH", "/api/v1/assistants/{asst}",
         "assistant.version_created", lambda ids: {"json": {"tone": "formal"}}),
    Step("assistants.promote", "POST", "/api/v1/assistants/{asst}/versions/2/promote",
         "assistant.version_promoted"),
    Step("assistants.promote", "POST", "/api/v1/assistants/{asst}/versions/1/promote",
         "assistant.version_rolled_back"),
    Step("assistants.update", "PATCH", "/api/v1/assistants/{asst}", "assistant.paused",
         lambda ids: {"json": {"is_active": False}}),
    Step("assistants.put_knowledge", "PUT", "/api/v1/assistants/{asst}/knowledge",
         "assistant.knowledge_scope_changed",
         lambda ids: {"json": {"mode": "linked", "linked": [ids["file_id"]], "excluded": []}}),
    Step("assistants.create_test", "POST", "/api/v1/assistants/{asst}/tests",
         "assistant_test.created",
         lambda ids: {"json": {"question": "Hours?", "expect_no_answer": True}}, save="test"),
    Step("assistants.update_test", "PATCH", "/api/v1/assistants/{asst}/tests/{test}",
         "assistant_test.updated", lambda ids: {"json": {"question": "Opening hours?"}}),
    Step("assistants.start_evaluation", "POST",
         "/api/v1/assistants/{asst}/versions/1/evaluations", "evaluation.started"),
    Step("assistants.delete_test", "DELETE", "/api/v1/assistants/{asst}/tests/{test}",
         "assistant_test.deleted"),
    Step("knowledge.upload_file", "POST", "/api/v1/knowledge/files/", "knowledge_source.created",
         lambda ids: {"data": {"file": (io.BytesIO(b"Parking is free for two hours."),
                                        "parking.txt")},
                      "content_type": "multipart/form-data"}, save="file"),
    Step("knowledge.create_qa", "POST", "/api/v1/knowledge/qas/", "knowledge_source.created",
         lambda ids: {"json": {"question": "Wi-Fi?", "answer": "Free in every store."}},
         save="qa"),
    Step("knowledge.update_qa", "PATCH", "/api/v1/knowledge/qas/{qa}",
         "knowledge_source.updated", lambda ids: {"json": {"answer": "Free, 1 Gbit/s."}}),
    Step("knowledge.import_qas", "POST", "/api/v1/knowledge/qas/import",
         "knowledge_source.created",
         lambda ids: {"data": {"file": (io.BytesIO(b"question,answer\nPets?,Dogs welcome.\n"),
                                        "bank.csv")},
                      "content_type": "multipart/form-data"}),
    Step("knowledge.create_url", "POST", "/api/v1/knowledge/urls/", "knowledge_source.created",
         lambda ids: {"json": {"url": ids["page"] + "?copy=1"}}, save="url"),
    Step("knowledge.refresh_url", "POST", "/api/v1/knowledge/urls/{url_id}/refresh",
         "knowledge_source.refreshed"),
    Step("knowledge.reembed", "POST", "/api/v1/knowledge/reembed",
         "knowledge.reembed_requested", lambda ids: {"json": {}}),
    Step("jobs.retry", "POST", "/api/v1/jobs/{failed_job}/retry", "job.retried"),
    Step("conversations.create_correction", "POST",
         "/api/v1/conversations/{conversation_id}/messages/{reply_id}/corrections",
         "correction.created",
         lambda ids: {"json": {"answer": "The memo is with the office manager."}}),
    Step("keys.create", "POST", "/api/v1/keys/", "api_key.created",
         lambda ids: {"json": {"name": "partner", "scopes": ["assistants:read"],
                               "expires_at": "2099-01-01T00:00:00Z"}}, save="new_key"),
    Step("keys.update", "PATCH", "/api/v1/keys/{new_key}", "api_key.updated",
         lambda ids: {"json": {"name": "partner (read-only)"}}),
    Step("keys.revoke", "POST", "/api/v1/keys/{new_key}/revoke", "api_key.revoked"),
    Step("knowledge.delete_qa", "DELETE", "/api/v1/knowledge/qas/{qa}",
         "knowledge_source.deleted"),
    Step("knowledge.delete_file", "DELETE", "/api/v1/knowledge/files/{file}",
         "knowledge_source.deleted"),
    Step("knowledge.delete_url", "DELETE", "/api/v1/knowledge/urls/{url}",
         "knowledge_source.deleted"),
    Step("assistants.delete", "DELETE", "/api/v1/assistants/{asst}", "assistant.deleted"),
    Step("webhooks.update", "PATCH", "/api/v1/webhooks/{webhook}", "webhook.updated",
         lambda ids: {"json": {"description": "CRM"}}),
    Step("webhooks.redeliver", "POST",
         "/api/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver", "webhook.redelivered"),
    Step("webhooks.delete", "DELETE", "/api/v1/webhooks/{webhook}", "webhook.deleted"),
]


def _events(app, org_id: str) -> list:  # noqa: ANN001
    from extensions import db
    from models.audit import AuditEvent

    with app.app_context():
        rows = db.session.execute(select(AuditEvent).where(AuditEvent.org_id == org_id)
                                  .order_by(AuditEvent.created_at, AuditEvent.id)).scalars()
        return [{"id": e.id, "actor": (e.actor_type, e.actor_id), "action": e.action,
                 "entity": (e.entity_type, e.entity_id), "changes": e.changes,
                 "request_id": e.request_id, "ip": e.client_ip} for e in rows]


def test_every_mutating_route_writes_an_audit_event_and_reads_write_none(
        app, tenant, world, run_jobs, local_page):
    mutating = {endpoint for method, _rule, endpoint in keyed_routes(app) if method in MUTATING}
    covered = {s.endpoint for s in STEPS}
    missing = mutating - covered - set(TRAFFIC)
    assert not missing, (f"{sorted(missing)}: add a step to STEPS (with the audit event it "
                         "writes) or, for traffic, a reason to TRAFFIC")
    assert not (covered & set(TRAFFIC))

    ids = {**world.ids, "page": local_page, "failed_job": _failed_job(tenant, run_jobs),
           "receiver": local_page.replace("/shipping", "/hooks")}
    secrets_seen: list[str] = [tenant.secret]
    for step in STEPS:
        if "{delivery}" in step.path:
            ids["delivery"] = tenant.get(f"/api/v1/webhooks/{ids['webhook']}/deliveries"
                                         ).json["items"][0]["id"]
        before = len(_events(app, tenant.org_id))
        resp = tenant._call(step.method, step.path.format(**ids), **step.kwargs(ids))
        assert resp.status_code < 300, (step.endpoint, resp.status_code, resp.get_data())
        run_jobs()
        if step.save:
            ids[step.save] = resp.json["id"]
        if resp.is_json and "secret" in (resp.json or {}):
            secrets_seen.append(resp.json["secret"])
        new = _events(app, tenant.org_id)[before:]
        mine = [e for e in new if e["request_id"] == resp.headers["X-Request-ID"]]
        assert step.action in {e["action"] for e in mine}, (step.endpoint, step.path, new)
        for event in mine:
            assert event["actor"] == ("key", tenant.key_id), event
            assert event["ip"] == "127.0.0.1", event

    # Traffic and reads write nothing.
    before = len(_events(app, tenant.org_id))
    for method, rule, _endpoint in keyed_routes(app):
        if method != "GET" or "openapi" in rule:
            continue
        path = _variants(rule, world)[0][0] if "<" in rule else rule
        assert tenant.get(path).status_code < 500, path
    sess = tenant.post("/api/v1/sessions/", json={"assistant_id": world.ids["assistant_id"]})
    assert sess.status_code == 201, sess.json
    assert len(_events(app, tenant.org_id)) == before

    # No secret, key hash or password in any event.
    from extensions import db
    from models.orgs import ApiKey

    with app.app_context():
        hashes = list(db.session.execute(select(ApiKey.key_hash)).scalars())
    text = json.dumps(_events(app, tenant.org_id))
    for secret in secrets_seen + hashes:
        assert secret not in text


def test_the_trail_is_listed_filtered_and_paged_through_the_api(app, tenant):
    created = tenant.post("/api/v1/assistants/", json={"name": "Kettle bot"}).json
    tenant.patch(f"/api/v1/assistants/{created['id']}",
                 json={"instructions": "Be brief.", "promote": True})
    tenant.patch(f"/api/v1/assistants/{created['id']}", json={"is_active": False})

    # the organization and its key were made first, by the system (the CLI's way)
    system = tenant.get("/api/v1/audit-events?actor_type=system").json["items"]
    assert [e["action"] for e in system] == ["api_key.created", "organization.created"]
    assert system[0]["actor"] == {"type": "system", "id": None}
    page = tenant.get("/api/v1/audit-events?limit=2")
    assert page.status_code == 200, page.json
    assert len(page.json["items"]) == 2 and page.json["next_cursor"]
    first = page.json["items"][0]
    assert first["action"] == "assistant.paused"
    assert first["actor"] == {"type": "key", "id": tenant.key_id}
    assert first["changes"] == {"is_active": [True, False]}
    assert first["id"].startswith("aud_") and first["ip"] == "127.0.0.1"
    rest = tenant.get("/api/v1/audit-events?limit=100&actor_type=key"
                      f"&cursor={page.json['next_cursor']}")
    assert rest.status_code == 200, rest.json
    actions = [e["action"] for e in page.json["items"] + rest.json["items"]]
    assert actions == ["assistant.paused", "assistant.version_promoted",
                       "assistant.version_created", "assistant.version_created",
                       "assistant.created"]
    promoted = page.json["items"][1]
    assert promoted["changes"]["live_version"] == [1, 2]
    assert promoted["changes"]["instructions"] == ["", "Be brief."]

    only = tenant.get("/api/v1/audit-events?action=assistant.version_*").json["items"]
    assert {e["action"] for e in only} == {"assistant.version_created",
                                           "assistant.version_promoted"}
    by_entity = tenant.get(f"/api/v1/audit-events?entity_type=assistant&entity_id={created['id']}"
                           f"&actor_type=key&actor_id={tenant.key_id}").json["items"]
    assert len(by_entity) == 5
    assert tenant.get("/api/v1/audit-events?since=2090-01-01T00:00:00Z").json["items"] == []
    bad = tenant.get("/api/v1/audit-events?entity_type=widget")
    assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_error"


def test_events_cannot_be_edited_or_deleted_through_any_route(app, tenant):
    tenant.post("/api/v1/assistants/", json={"name": "Bot"})
    event = tenant.get("/api/v1/audit-events").json["items"][0]
    for method in ("PUT", "PATCH", "DELETE"):
        for path in ("/api/v1/audit-events", f"/api/v1/audit-events/{event['id']}"):
            resp = tenant._call(method, path, json={})
            assert resp.status_code in (404, 405), (method, path, resp.status_code)
    assert tenant.get("/api/v1/audit-events").json["items"][0] == event


def test_a_failed_change_writes_no_event(app, tenant):
    bot = tenant.post("/api/v1/assistants/", json={"name": "Bot"}).json
    before = tenant.get("/api/v1/audit-events").json["items"]
    refused = tenant.patch(f"/api/v1/assistants/{bot['id']}", json={"language": "x" * 99})
    assert refused.status_code == 422
    assert tenant.get("/api/v1/audit-events").json["items"] == before


@pytest.mark.parametrize("scopes, status", [(["audit:read"], 200),
                                            (["assistants:read"], 403)])
def test_reading_the_trail_needs_audit_read(app, tenant, scopes, status):
    from tests.factories import make_key

    _key_id, secret = make_key(app, tenant.org_id, scopes=scopes)
    resp = tenant.client.get("/api/v1/audit-events", headers={"X-API-Key": secret})
    assert resp.status_code == status
    if status == 403:
        assert resp.json["error"]["details"]["required_scope"] == "audit:read"


# ------------------------------------------------------------------------------ console
CONSOLE_OPEN = {
    "console_auth.login": "signing in changes nothing of the organization's",
    "console_auth.logout": "signing out changes nothing of the organization's",
    "console_assistants.preview": "answers a question and stores nothing",
}
NEW_USER_PASSWORD = "a-long-enough-password-7"


@dataclass
class ConsoleStep:
    endpoint: str
    path: str
    action: str
    data: Callable[[dict[str, str]], dict[str, Any]] = lambda ids: {}
    save: str | None = None  # keep the event's entity id under this name
    multipart: bool = False


CONSOLE_STEPS = [
    ConsoleStep("console_webhooks.create", "/console/webhooks/", "webhook.created",
                lambda ids: {"url": ids["page"].replace("/shipping", "/hook"),
                             "description": "CRM", "form_token": "w1",
                             "events": ["assistant.version_promoted"]}, save="webhook"),
    ConsoleStep("console_assistants.create", "/console/assistants/new", "assistant.created",
                lambda ids: {"name": "Concierge", "language": "it", "tone": "warm",
                             "instructions": "Greet guests.", "task_models": "",
                             "is_active": "on"}, save="asst"),
    ConsoleStep("console_assistants.edit", "/console/assistants/{asst}/edit",
                "assistant.version_created",
                lambda ids: {"name": "Concierge", "language": "it", "tone": "formal",
                             "instructions": "Greet guests.", "task_models": "",
                             "note": "More formal"}),
    ConsoleStep("console_versions.promote", "/console/assistants/{asst}/versions/2/promote",
                "assistant.version_promoted"),
    ConsoleStep("console_assistants.set_active", "/console/assistants/{asst}/active",
                "assistant.paused"),
    ConsoleStep("console_scope.edit", "/console/assistants/{asst}/knowledge",
                "assistant.knowledge_scope_changed",
                lambda ids: {"mode": "linked", "linked": [ids["source_id"]]}),
    ConsoleStep("console_evaluations.promotion_gate", "/console/assistants/{asst}/promotion-gate",
                "assistant.updated", lambda ids: {"required": "on"}),
    ConsoleStep("console_evaluations.create_test", "/console/assistants/{asst}/tests",
                "assistant_test.created",
                lambda ids: {"question": "Do you ship?", "expect_no_answer": "yes"},
                save="test"),
    ConsoleStep("console_evaluations.start", "/console/assistants/{asst}/versions/2/evaluations",
                "evaluation.started"),
    ConsoleStep("console_evaluations.delete_test", "/console/assistants/{asst}/tests/{test}/delete",
                "assistant_test.deleted"),
    ConsoleStep("console_conversations.correct",
                "/console/conversations/{conversation_id}/messages/{reply_id}/correction",
                "correction.created", lambda ids: {"answer": "Yes, in 2 working days."}),
    ConsoleStep("console_keys.create", "/console/keys/", "api_key.created",
                lambda ids: {"name": "partner", "form_token": "t1", "scopes_shown": "1",
                             "scopes": ["assistants:read"]}, save="key"),
    ConsoleStep("console_keys.revoke", "/console/keys/{key}/revoke", "api_key.revoked"),
    ConsoleStep("console_knowledge.upload", "/console/knowledge/files",
                "knowledge_source.created",
                lambda ids: {"file": (io.BytesIO(b"Parking is free for two hours."),
                                      "parking.txt")}, save="file", multipart=True),
    ConsoleStep("console_knowledge.qas.create", "/console/knowledge/qas/",
                "knowledge_source.created",
                lambda ids: {"question": "Wi-Fi?", "answer": "Free.", "tags": ""}, save="qa"),
    ConsoleStep("console_knowledge.qas.update", "/console/knowledge/qas/{qa}",
                "knowledge_source.updated",
                lambda ids: {"question": "Wi-Fi?", "answer": "Free, 1 Gbit/s.", "tags": ""}),
    ConsoleStep("console_knowledge.qas.import_csv", "/console/knowledge/qas/import",
                "knowledge_source.created",
                lambda ids: {"file": (io.BytesIO(b"question,answer\nPets?,Dogs welcome.\n"),
                                      "bank.csv")}, multipart=True),
    ConsoleStep("console_knowledge.urls.create", "/console/knowledge/urls/",
                "knowledge_source.created",
                lambda ids: {"url": ids["page"], "title": ""}, save="url"),
    ConsoleStep("console_knowledge.refresh", "/console/knowledge/sources/{url}/refresh",
                "knowledge_source.refreshed"),
    ConsoleStep("console_knowledge.reembed", "/console/knowledge/reembed",
                "knowledge.reembed_requested"),
    ConsoleStep("console_knowledge.delete", "/console/knowledge/sources/{file}/delete",
                "knowledge_source.deleted"),
    ConsoleStep("console_team.create", "/console/team/", "user.created",
                lambda ids: {"email": "new.person@example.com", "name": "New",
                             "role": "viewer", "password": NEW_USER_PASSWORD}, save="user"),
    ConsoleStep("console_team.set_role", "/console/team/{user}/role", "user.role_changed",
                lambda ids: {"role": "admin"}),
    ConsoleStep("console_team.disable", "/console/team/{user}/disable", "user.disabled"),
    ConsoleStep("console_team.enable", "/console/team/{user}/enable", "user.enabled"),
    ConsoleStep("console_assistants.delete", "/console/assistants/{asst}/delete",
                "assistant.deleted"),
    ConsoleStep("console_webhooks.update", "/console/webhooks/{webhook}", "webhook.updated",
                lambda ids: {"url": ids["page"].replace("/shipping", "/hook"),
                             "description": "CRM sync", "events": ["feedback.created"],
                             "active": "on"}),
    ConsoleStep("console_webhooks.redeliver",
                "/console/webhooks/{webhook}/deliveries/{delivery}/redeliver",
                "webhook.redelivered"),
    ConsoleStep("console_webhooks.delete", "/console/webhooks/{webhook}/delete",
                "webhook.deleted"),
    ConsoleStep("console_settings.retention", "/console/settings/retention",
                "organization.updated", lambda ids: {"conversations": "365"}),
]


def test_every_mutating_console_route_writes_an_audit_event_naming_the_operator(
        app, run_jobs, local_page, monkeypatch):
    from services.knowledge.url_guard import parse_networks
    from tests.console.conftest import make_console_org, make_story

    monkeypatch.setitem(app.config, "OUTBOUND_ALLOW_CIDRS", parse_networks("127.0.0.1/32"))

    mutating = {r.endpoint for r in app.url_map.iter_rules()
                if r.rule.startswith("/console") and (r.methods or set()) & MUTATING}
    covered = {s.endpoint for s in CONSOLE_STEPS}
    missing = mutating - covered - set(CONSOLE_OPEN)
    assert not missing, (f"{sorted(missing)}: add a step to CONSOLE_STEPS (with the audit "
                         "event it writes) or a reason to CONSOLE_OPEN")

    corg = make_console_org(app, "Org A")
    owner = corg["owner"]
    ids = {**make_story(corg.tenant, run_jobs).ids(), "page": local_page}
    for step in CONSOLE_STEPS:
        if "{delivery}" in step.path:
            ids["delivery"] = corg.tenant.get(f"/api/v1/webhooks/{ids['webhook']}/deliveries"
                                              ).json["items"][0]["id"]
        before = len(_events(app, corg.org_id))
        data = step.data(ids)
        kwargs = {"content_type": "multipart/form-data"} if step.multipart else {}
        resp = owner.post(step.path.format(**ids), data, **kwargs)
        assert resp.status_code < 400, (step.endpoint, resp.status_code, resp.text[:500])
        run_jobs()
        new = _events(app, corg.org_id)[before:]
        mine = [e for e in new if e["request_id"] == resp.headers["X-Request-ID"]]
        matching = [e for e in mine if e["action"] == step.action]
        assert matching, (step.endpoint, new)
        for event in mine:
            assert event["actor"] == ("user", owner.user_id), event
            assert event["ip"] == owner.client.environ_base["REMOTE_ADDR"], event
        if step.save:
            ids[step.save] = matching[0]["entity"][1]
    text = json.dumps(_events(app, corg.org_id))
    assert NEW_USER_PASSWORD not in text and "pbkdf2" not in text and "scrypt" not in text

    page = owner.client.get("/console/audit/?actor_type=user")
    assert page.status_code == 200
    assert "assistant.version_promoted" in page.text and owner.email in page.text
    viewer_page = corg["viewer"].client.get(f"/console/audit/?entity_id={ids['asst']}")
    assert viewer_page.status_code == 200 and "assistant.deleted" in viewer_page.text
    assert "api_key.created" not in viewer_page.text  # the filter applies
    export = owner.client.get("/console/audit/export.csv?action=user.*&actor_type=user")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = export.text.strip().splitlines()
    assert rows[0].startswith("id,created_at,actor_type,actor_id,action")
    assert [r.split(",")[4] for r in rows[1:]] == [
        "user.enabled", "user.disabled", "user.role_changed", "user.created"]
