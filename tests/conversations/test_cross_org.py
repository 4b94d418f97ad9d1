"""Every route of sessions, contexts and conversations, driven from the URL map: another
organization's ids answer exactly like ids that do not exist (404 not_found)."""
from __future__ import annotations

import re

from models.conversations import Conversation, Feedback, Message
from models.sessions import Context, Session
from tests.conversations.conftest import count, exchange

BLUEPRINTS = ("sessions", "contexts", "conversations")
_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
BODIES = {
    ("PATCH", "session_id"): {"metadata": {"x": 1}},
    ("PATCH", "context_id"): {"attributes": {"x": 1}},
    ("POST", "messages"): {"content": "hello"},
    ("POST", "feedback"): {"rating": 3, "actor": {"type": "customer"}},
    ("POST", "corrections"): {"answer": "The right answer."},
}


def _id_routes(app) -> list[tuple[str, str]]:  # noqa: ANN001
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in BLUEPRINTS or "<" not in rule.rule:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule))
    return found


def _body(method: str, rule: str) -> dict | None:
    if method in ("GET", "DELETE"):
        return None
    key = rule.rsplit("/", 1)[-1] if rule.endswith(("messages", "feedback", "corrections")) \
        else \
        _PARAM.findall(rule)[-1]
    return BODIES[(method, key)]


def test_foreign_ids_are_404_like_missing_ones_on_every_route(app, tenant, other_tenant,
                                                               session, conversation):
    ctx = tenant.post("/api/v1/contexts", json={"session_id": session["id"],
                                                "attributes": {"a": 1}}).json
    _, reply_id = exchange(app, tenant.org_id, conversation["id"], "hello")
    real = {"session_id": session["id"], "context_id": ctx["id"],
            "conversation_id": conversation["id"], "message_id": reply_id}
    missing = {"session_id": "sess_" + "x" * 24, "context_id": "ctx_" + "x" * 24,
               "conversation_id": "conv_" + "x" * 24, "message_id": "msg_" + "x" * 24}
    before = {m: count(app, m) for m in (Session, Context, Conversation, Message, Feedback)}
    routes = _id_routes(app)
    assert len(routes) >= 9  # a new route is covered automatically
    for method, rule in routes:
        body = _body(method, rule)
        foreign_url = _PARAM.sub(lambda m: real[m.group(1)], rule)
        missing_url = _PARAM.sub(lambda m: missing[m.group(1)], rule)
        kwargs = {"json": body} if body else {}
        foreign = other_tenant._call(method, foreign_url, **kwargs)
        absent = other_tenant._call(method, missing_url, **kwargs)
        assert foreign.status_code == 404, (method, rule, foreign.json)
        assert foreign.json == absent.json, (method, rule)
        assert foreign.json["error"]["code"] == "not_found"
    after = {m: count(app, m) for m in before}
    assert after == before
    assert tenant.get(f"/api/v1/sessions/{session['id']}").json["active"] is True


def test_foreign_ids_in_bodies_and_filters(app, tenant, other_tenant, assistant, session,
                                           conversation):
    resp = other_tenant.post("/api/v1/sessions/", json={"assistant_id": assistant["id"]})
    assert resp.status_code == 404
    resp = other_tenant.post("/api/v1/conversations/", json={"session_id": session["id"]})
    assert resp.status_code == 404
    resp = other_tenant.post("/api/v1/contexts", json={"session_id": session["id"],
                                                       "attributes": {}})
    assert resp.status_code == 404
    own_asst = other_tenant.post("/api/v1/assistants/", json={"name": "B"}).json
    own_session = other_tenant.post("/api/v1/sessions/",
                                    json={"assistant_id": own_asst["id"]}).json
    resp = other_tenant.post("/api/v1/conversations/", json={
        "session_id": own_session["id"], "assistant_id": assistant["id"]})
    assert resp.status_code == 404
    _, reply_id = exchange(app, tenant.org_id, conversation["id"], "hi")
    own_conv = other_tenant.post("/api/v1/conversations/",
                                 json={"session_id": own_session["id"]}).json
    resp = other_tenant.post(f"/api/v1/conversations/{own_conv['id']}/feedback",
                             json={"rating": 1, "message_id": reply_id,
                                   "actor": {"type": "customer"}})
    assert resp.status_code == 422 and "message_id" in resp.json["error"]["details"]["fields"]
    for path in (f"/api/v1/sessions/?assistant_id={assistant['id']}",
                 f"/api/v1/contexts?session_id={session['id']}",
                 f"/api/v1/conversations/?session_id={session['id']}"):
        assert other_tenant.get(path).json["items"] == []
    assert count(app, Feedback) == 0
