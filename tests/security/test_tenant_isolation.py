"""Item 1 — tenant isolation, generated from the URL map.

For every keyed route with path parameters, org B's key on org A's real ids answers 404
with exactly the body a missing id of the same kind gets, and changes nothing. A route
whose parameter kind this file does not know fails the matrix, so a new route has to be
added here before it ships. Every list/search/export/analytics read of B never contains a
row of A, even when B filters by A's ids, and a canary planted in A's knowledge never
reaches B's search hits or B's conversation answers.
"""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from api.auth import is_keyed_path
from tests.conversations.conftest import open_session, start_conversation
from tests.security.conftest import CANARY

_PARAM = re.compile(r"<(?:([a-z]+):)?([a-z_]+)>")
MISSING_TAIL = "Zz9" * 8  # 24 base62 characters, the shape of a real id

# param name → (world key, prefix of a missing id of the same kind). `source_id` depends on
# the collection it sits in; `number` is an assistant's version number.
PARAM_KINDS = {
    "assistant_id": ("assistant_id", "asst"),
    "session_id": ("session_id", "sess"),
    "context_id": ("context_id", "ctx"),
    "conversation_id": ("conversation_id", "conv"),
    "job_id": ("job_id", "job"),
    "message_id": ("reply_id", "msg"),
    "test_id": ("test_id", "tc"),
    "evaluation_id": ("evaluation_id", "ev"),
    "key_id": ("key_id", "key"),
    "webhook_id": ("webhook_id", "wh"),
    "delivery_id": ("delivery_id", "whd"),
}
SOURCE_COLLECTIONS = {
    "/api/v1/knowledge/files/": [("file_id", "kf")],
    "/api/v1/knowledge/qas/": [("qa_id", "kq")],
    "/api/v1/knowledge/urls/": [("url_id", "ku")],
    # any kind of source: probe all three
    "/api/v1/knowledge/sources/": [("file_id", "kf"), ("qa_id", "kq"), ("url_id", "ku")],
}
# A valid body for each keyed endpoint with a JSON body and path params, so B reaches the
# lookup (an invalid body would be a 422 before any id is read).
BODIES = {
    "assistants.update": {"tone": "hijacked", "promote": True},
    "assistants.put_knowledge": {"mode": "all", "linked": [], "excluded": []},
    "knowledge.update_qa": {"answer": "hijacked"},
    "sessions.update": {"ttl_seconds": 600, "metadata": {"hijacked": True}},
    "contexts.update": {"attributes": {"hijacked": True}},
    "conversations.post_message": {"content": "hijacked"},
    "conversations.create_feedback": {"rating": 1, "actor": {"type": "customer"}},
    "assistants.preview": {"content": "What do you know?"},
    "conversations.create_correction": {"answer": "hijacked"},
    "assistants.create_test": {"question": "hijacked?", "expect_no_answer": True},
    "assistants.update_test": {"question": "hijacked?"},
    "keys.update": {"name": "hijacked", "scopes": ["assistants:read"]},
    "webhooks.update": {"url": "https://example.com/hijacked", "is_active": False},
}
# Query parameters of list/analytics reads that take an id, filled with A's ids.
ID_FILTERS = {
    "session_id": "session_id", "assistant_id": "assistant_id", "api_key_id": "key",
    "organization_id": "org", "conversation_id": "conversation_id",
    "external_id": "external_id", "actor_id": "key", "entity_id": "assistant_id",
}


def keyed_routes(app) -> list[tuple[str, str, str]]:  # noqa: ANN001
    """(method, rule, endpoint) for every keyed JSON route in the URL map."""
    out = []
    for rule in app.url_map.iter_rules():
        if not is_keyed_path(rule.rule.split("<", 1)[0]) or rule.rule.endswith("openapi.json"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((method, rule.rule, rule.endpoint))
    return sorted(out)


def _variants(rule: str, world) -> list[tuple[str, str]]:  # noqa: ANN001
    """[(foreign_url, missing_url)] for one rule; fails on an unknown parameter kind."""
    params = _PARAM.findall(rule)
    choices: list[list[tuple[str, str]]] = []
    for converter, name in params:
        if name == "number":
            assert converter == "int", rule
            choices.append([(str(world.version_number), str(world.version_number))])
        elif name == "source_id":
            prefix = rule.split("<", 1)[0]
            kinds = SOURCE_COLLECTIONS.get(prefix)
            if kinds is None:
                pytest.fail(f"{rule}: source collection {prefix!r} unknown to the matrix")
            choices.append([(world.ids[k], f"{p}_{MISSING_TAIL}") for k, p in kinds])
        elif name in PARAM_KINDS:
            key, prefix = PARAM_KINDS[name]
            choices.append([(world.ids[key], f"{prefix}_{MISSING_TAIL}")])
        else:
            pytest.fail(f"{rule}: path parameter {name!r} is unknown to the isolation matrix; "
                        "add its kind (a real id in `world` and a missing one) to PARAM_KINDS")
    combos: list[list[tuple[str, str]]] = [[]]
    for options in choices:
        combos = [c + [o] for c in combos for o in options]
    out = []
    for combo in combos:
        it_f, it_m = iter(combo), iter(combo)
        foreign = _PARAM.sub(lambda _m, it=it_f: next(it)[0], rule)
        missing = _PARAM.sub(lambda _m, it=it_m: next(it)[1], rule)
        out.append((foreign, missing))
    return out


def _row_counts(app) -> dict[str, int]:  # noqa: ANN001
    from extensions import db

    with app.app_context():
        counts = {}
        for table in db.metadata.sorted_tables:
            if table.name in ("request_logs", "rate_limit_events") or "rollup" in table.name:
                continue
            counts[table.name] = db.session.execute(
                select(func.count()).select_from(table)).scalar_one()
        return counts


def _a_snapshot(tenant, world) -> dict[str, object]:  # noqa: ANN001
    ids = world.ids
    paths = [
        f"/api/v1/assistants/{ids['assistant_id']}",
        f"/api/v1/assistants/{ids['assistant_id']}/knowledge",
        f"/api/v1/assistants/{ids['assistant_id']}/versions",
        f"/api/v1/knowledge/files/{ids['file_id']}", f"/api/v1/knowledge/qas/{ids['qa_id']}",
        f"/api/v1/knowledge/urls/{ids['url_id']}", f"/api/v1/jobs/{ids['job_id']}",
        f"/api/v1/sessions/{ids['session_id']}", f"/api/v1/contexts/{ids['context_id']}",
        f"/api/v1/conversations/{ids['conversation_id']}",
        f"/api/v1/conversations/{ids['conversation_id']}/messages",
        f"/api/v1/conversations/{ids['conversation_id']}/feedback",
    ]
    snap = {}
    for path in paths:
        resp = tenant.get(path)
        assert resp.status_code == 200, (path, resp.json)
        snap[path] = resp.json
    return snap


def test_every_keyed_route_with_ids_is_404_for_another_org_like_a_missing_id(
        app, tenant, other_tenant, world):
    routes = [r for r in keyed_routes(app) if "<" in r[1]]
    assert len(routes) >= 25, routes  # the URL map drives this; it must not silently shrink
    from api.endpoint import EndpointDoc

    before_rows = _row_counts(app)
    before_a = _a_snapshot(tenant, world)
    probed = 0
    for method, rule, endpoint in routes:
        doc: EndpointDoc | None = getattr(app.view_functions[endpoint], "__openapi__", None)
        kwargs = {}
        if doc is not None and doc.body is not None:
            if endpoint not in BODIES:
                pytest.fail(f"{method} {rule}: add a valid body for {endpoint} to BODIES")
            kwargs["json"] = BODIES[endpoint]
        for foreign_url, missing_url in _variants(rule, world):
            foreign = other_tenant._call(method, foreign_url, **kwargs)
            missing = other_tenant._call(method, missing_url, **kwargs)
            assert foreign.status_code == 404, (method, foreign_url, foreign.get_data())
            assert foreign.json["error"]["code"] == "not_found", (method, foreign_url)
            assert foreign.json == missing.json, (method, rule, foreign.json, missing.json)
            text = foreign.get_data(as_text=True)
            assert not any(v in text for v in world.all_ids()), (method, foreign_url, text)
            probed += 1
    assert probed >= len(routes)
    assert _row_counts(app) == before_rows  # nothing created, deleted or duplicated
    assert _a_snapshot(tenant, world) == before_a  # and nothing of A's changed


def test_a_new_route_with_an_unknown_param_kind_fails_the_matrix(world):
    with pytest.raises(pytest.fail.Exception, match="unknown to the isolation matrix"):
        _variants("/api/v1/widgets/<widget_id>", world)
    with pytest.raises(pytest.fail.Exception, match="unknown to the matrix"):
        _variants("/api/v1/knowledge/notes/<source_id>", world)


def _id_filters(app, endpoint: str) -> list[str]:  # noqa: ANN001
    doc = getattr(app.view_functions[endpoint], "__openapi__", None)
    if doc is None or doc.query is None:
        return []
    names = [n for n in doc.query.model_fields if n.endswith("_id")]
    unknown = [n for n in names if n not in ID_FILTERS]
    if unknown:
        pytest.fail(f"{endpoint}: id filter(s) {unknown} unknown to the isolation matrix")
    return names


def test_list_search_export_and_analytics_reads_never_include_another_orgs_rows(
        app, tenant, other_tenant, world):
    # B has rows of its own so an empty answer is not the only way to pass
    own = other_tenant.post("/api/v1/assistants/", json={"name": "B's own"}).json
    own_session = open_session(other_tenant, own["id"])
    start_conversation(other_tenant, own_session["id"])
    secrets_of_a = world.all_ids() | set(world.secret_texts)
    reads = [(m, r, e) for m, r, e in keyed_routes(app) if m == "GET" and "<" not in r]
    assert len(reads) >= 12, reads
    for _, rule, endpoint in reads:
        variants: list[dict[str, str]] = [{}]
        for name in _id_filters(app, endpoint):
            variants.append({name: world.ids[ID_FILTERS[name]]})
        if endpoint in ("conversations.export", "analytics.logs"):
            fmt = "csv"
            variants += [{**v, "format": fmt} for v in list(variants)]
        for params in variants:
            resp = other_tenant.get(rule, query_string=params)
            if "organization_id" in params:  # an org key naming another org → 404
                assert resp.status_code == 404, (rule, params, resp.json)
                continue
            assert resp.status_code == 200, (rule, params, resp.get_data())
            text = resp.get_data(as_text=True)
            if resp.is_json:  # analytics echo the filters B itself sent: not a leak
                body = {k: v for k, v in resp.json.items()
                        if not (k in params and v == params[k])}
                text = json.dumps(body)
            leaked = [s for s in secrets_of_a if s in text]
            assert not leaked, (rule, params, leaked)
    # A sees its own rows through the same reads (the check above is not vacuous)
    assert world.ids["session_id"] in tenant.get("/api/v1/sessions/").get_data(as_text=True)
    assert world.ids["file_id"] in tenant.get("/api/v1/knowledge/files/").get_data(as_text=True)


def test_foreign_ids_inside_bodies_are_404_or_refused(app, tenant, other_tenant, world):
    """Ids referenced from a body behave like path ids (complements tests/conversations)."""
    ids = world.ids
    own = other_tenant.post("/api/v1/assistants/", json={"name": "B"}).json
    resp = other_tenant.post("/api/v1/knowledge/search",
                             json={"query": CANARY, "assistant_id": ids["assistant_id"]})
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
    resp = other_tenant.post("/api/v1/knowledge/reembed", json={"source_ids": [ids["file_id"]]})
    assert resp.status_code == 404
    for field_name in ("linked", "excluded"):
        body = {"mode": "linked", "linked": [], "excluded": [], field_name: [ids["qa_id"]]}
        resp = other_tenant.put(f"/api/v1/assistants/{own['id']}/knowledge", json=body)
        assert resp.status_code in (404, 422), resp.json
        assert ids["qa_id"] not in other_tenant.get(
            f"/api/v1/assistants/{own['id']}/knowledge").get_data(as_text=True)


def test_canary_in_org_a_never_reaches_org_b_search_or_answers(app, tenant, other_tenant,
                                                               world):
    # Positive control: A finds its canary through search and through its assistant.
    hits = tenant.post("/api/v1/knowledge/search", json={"query": CANARY, "top_k": 50}).json
    assert any(CANARY in h["text"] for h in hits["items"])
    a_reply = tenant.post(f"/api/v1/conversations/{world.ids['conversation_id']}/messages",
                          json={"content": f"What is the {CANARY} escalation code?"})
    assert a_reply.status_code == 201, a_reply.json
    assert "seven-seven-alpha" in a_reply.json["reply"]["content"]

    # B: the same questions, with its own knowledge base so retrieval has work to do.
    other_tenant.post("/api/v1/knowledge/qas/", json={
        "question": "What are the opening hours?", "answer": "Nine to five, Monday to Friday."})
    b_asst = other_tenant.post("/api/v1/assistants/", json={"name": "B"}).json
    b_conv = start_conversation(other_tenant, open_session(other_tenant, b_asst["id"])["id"])
    a_sources = {world.ids[k] for k in ("file_id", "qa_id", "url_id")}
    for query in (CANARY, f"What is the {CANARY} escalation code?",
                  "vault combination Lisbon office night porter", "ferry to Madeira"):
        for body in ({"query": query, "top_k": 50},
                     {"query": query, "top_k": 50, "assistant_id": b_asst["id"]}):
            resp = other_tenant.post("/api/v1/knowledge/search", json=body)
            assert resp.status_code == 200
            assert not {h["source_id"] for h in resp.json["items"]} & a_sources
            assert CANARY not in resp.get_data(as_text=True)
        reply = other_tenant.post(f"/api/v1/conversations/{b_conv['id']}/messages",
                                  json={"content": query})
        assert reply.status_code == 201, reply.json
        text = json.dumps(reply.json["reply"])  # (B's own question naturally contains it)
        assert CANARY not in text and "seven-seven-alpha" not in text
        assert not {c["source_id"] for c in reply.json["reply"]["citations"]} & a_sources
