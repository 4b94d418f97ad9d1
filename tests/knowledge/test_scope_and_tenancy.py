"""Scope (linked/excluded) and tenant isolation of retrieval."""
from __future__ import annotations

from tests.knowledge.helpers import ingest, search, upload

PUBLIC = b"Our public help centre explains how to reset a forgotten password from the app."
REGULATED = (b"Internal compliance memo: the reset password override code for agents is "
             b"ZEBRA-771 and must never be shared with customers.")


def _two_sources(tenant, run_jobs):  # noqa: ANN001, ANN202
    pub = ingest(tenant, run_jobs, PUBLIC, "public.txt")
    reg = ingest(tenant, run_jobs, REGULATED, "memo.txt")
    return pub, reg


def test_excluded_source_never_appears_for_that_assistant(tenant, run_jobs, assistant):
    pub, reg = _two_sources(tenant, run_jobs)
    aid = assistant["id"]
    resp = tenant.put(f"/api/v1/assistants/{aid}/knowledge",
                      json={"mode": "all", "linked": [], "excluded": [reg["id"]]})
    assert resp.status_code == 200 and resp.json["excluded"] == [reg["id"]]
    # The memo is the best match for this query, yet it is out of scope.
    hits = search(tenant, "password override code for agents ZEBRA-771", assistant_id=aid,
                  top_k=10)
    assert hits and {h["source_id"] for h in hits} == {pub["id"]}
    # Without an assistant (org-wide search) the memo is found.
    assert search(tenant, "override code ZEBRA-771")[0]["source_id"] == reg["id"]


def test_linked_mode_returns_only_linked_sources(tenant, run_jobs, assistant):
    pub, reg = _two_sources(tenant, run_jobs)
    aid = assistant["id"]
    tenant.put(f"/api/v1/assistants/{aid}/knowledge",
               json={"mode": "linked", "linked": [reg["id"]], "excluded": []})
    hits = search(tenant, "how do I reset my password in the app", assistant_id=aid)
    assert hits and {h["source_id"] for h in hits} == {reg["id"]}
    tenant.put(f"/api/v1/assistants/{aid}/knowledge",
               json={"mode": "linked", "linked": [], "excluded": []})
    assert search(tenant, "reset password", assistant_id=aid) == []
    got = tenant.get(f"/api/v1/assistants/{aid}").json["knowledge"]
    assert got == {"mode": "linked", "linked": [], "excluded": []}


def test_scope_refuses_unknown_or_foreign_source_ids(tenant, other_tenant, run_jobs,
                                                     assistant):
    foreign = ingest(other_tenant, run_jobs, PUBLIC, "public.txt")
    resp = tenant.put(f"/api/v1/assistants/{assistant['id']}/knowledge",
                      json={"mode": "linked", "linked": [foreign["id"]], "excluded": []})
    assert resp.status_code == 422
    assert "linked" in resp.json["error"]["details"]["fields"]
    resp = tenant.put(f"/api/v1/assistants/{assistant['id']}/knowledge",
                      json={"mode": "sometimes"})
    assert resp.status_code == 422


def test_deleting_a_source_removes_it_from_scopes(tenant, run_jobs, assistant):
    pub, reg = _two_sources(tenant, run_jobs)
    aid = assistant["id"]
    tenant.put(f"/api/v1/assistants/{aid}/knowledge",
               json={"mode": "linked", "linked": [pub["id"], reg["id"]], "excluded": []})
    tenant.delete(f"/api/v1/knowledge/files/{reg['id']}")
    assert tenant.get(f"/api/v1/assistants/{aid}/knowledge").json["linked"] == [pub["id"]]


def test_same_file_in_two_orgs_is_two_records_and_canary_never_crosses(
        app, tenant, other_tenant, run_jobs):
    canary = b"Canary phrase: the purple walrus sings at midnight in Lisbon harbour."
    a = ingest(tenant, run_jobs, canary, "canary.txt")
    b_resp = upload(other_tenant, canary, "canary.txt")
    assert b_resp.status_code == 202 and b_resp.json["id"] != a["id"]  # not a duplicate
    run_jobs()
    other_tenant.delete(f"/api/v1/knowledge/files/{b_resp.json['id']}")
    hits = search(other_tenant, "purple walrus sings at midnight", top_k=50)
    assert all("walrus" not in h["text"] for h in hits)
    assert search(tenant, "purple walrus")[0]["source_id"] == a["id"]


def test_other_org_ids_are_404_on_every_knowledge_route(tenant, other_tenant, run_jobs):
    f = ingest(tenant, run_jobs, PUBLIC, "p.txt")
    qa = tenant.post("/api/v1/knowledge/qas/", json={"question": "Q?", "answer": "A."}).json
    calls = [
        ("get", f"/api/v1/knowledge/files/{f['id']}"),
        ("delete", f"/api/v1/knowledge/files/{f['id']}"),
        ("get", f"/api/v1/knowledge/qas/{qa['id']}"),
        ("delete", f"/api/v1/knowledge/qas/{qa['id']}"),
        ("get", f"/api/v1/knowledge/sources/{f['id']}/chunks"),
        ("get", f"/api/v1/jobs/{f['job_id']}"),
    ]
    for method, path in calls:
        resp = getattr(other_tenant, method)(path)
        assert resp.status_code == 404, path
        # exactly what a missing id of the same kind gets
        bogus = path.replace(f["id"], "kf_missing").replace(qa["id"], "kq_missing")
        bogus = bogus.replace(f["job_id"], "job_missing")
        assert resp.json == getattr(other_tenant, method)(bogus).json
    resp = other_tenant.patch(f"/api/v1/knowledge/qas/{qa['id']}", json={"answer": "x"})
    assert resp.status_code == 404
    assert other_tenant.get("/api/v1/knowledge/files/").json["items"] == []
    # a file id on the Q&A route is a 404 too (kinds do not mix)
    assert tenant.get(f"/api/v1/knowledge/qas/{f['id']}").status_code == 404
