"""Q&A banks: single, bulk, CSV import, patch (re-index), delete."""
from __future__ import annotations

import io

from tests.knowledge.helpers import at_once, search, vector_count


def test_single_qa_is_indexed_and_found_by_paraphrase(tenant, run_jobs):
    resp = tenant.post("/api/v1/knowledge/qas/", json={
        "question": "What are your opening hours on Sunday?",
        "answer": "We are open from 10:00 to 16:00 on Sundays.", "tags": ["hours"]})
    assert resp.status_code == 201
    qa = resp.json
    assert qa["id"].startswith("kq_") and qa["kind"] == "qa" and qa["tags"] == ["hours"]
    run_jobs()
    hits = search(tenant, "are you open on Sunday?")
    assert hits[0]["source_id"] == qa["id"] and hits[0]["kind"] == "qa"
    assert hits[0]["score"] > 0.7  # near-exact question match
    assert tenant.get(f"/api/v1/knowledge/qas/{qa['id']}").json["status"] == "ready"


def test_bulk_is_all_or_nothing(tenant, run_jobs):
    bad = tenant.post("/api/v1/knowledge/qas/", json={"items": [
        {"question": "Ok?", "answer": "Yes."}, {"question": "", "answer": "No question"}]})
    assert bad.status_code == 422
    assert "items.1.question" in bad.json["error"]["details"]["fields"]
    assert tenant.get("/api/v1/knowledge/qas/").json["items"] == []
    good = tenant.post("/api/v1/knowledge/qas/", json=[
        {"question": "Do you ship to Malta?", "answer": "Yes, in 4 days."},
        {"question": "Can I pay by PayPal?", "answer": "Yes, PayPal is accepted."}])
    assert good.status_code == 202 and len(good.json["items"]) == 2
    run_jobs()
    assert tenant.get(f"/api/v1/jobs/{good.json['job_id']}").json["status"] == "succeeded"
    assert len(tenant.get("/api/v1/knowledge/qas/?status=ready").json["items"]) == 2


def test_csv_import(tenant, run_jobs):
    csv_bytes = (b"question,answer,tags\nIs parking free?,Yes for 2 hours.,parking;visit\n"
                 b"Do you have Wi-Fi?,Free Wi-Fi in every store.,\n")
    resp = tenant.post("/api/v1/knowledge/qas/import",
                       data={"file": (io.BytesIO(csv_bytes), "bank.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 202, resp.json
    assert [i["question"] for i in resp.json["items"]] == ["Is parking free?",
                                                           "Do you have Wi-Fi?"]
    assert resp.json["items"][0]["tags"] == ["parking", "visit"]
    bad = tenant.post("/api/v1/knowledge/qas/import",
                      data={"file": (io.BytesIO(b"foo,bar\n1,2\n"), "x.csv")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422


def test_patch_reindexes_without_leaking_old_vectors(app, tenant, run_jobs):
    qa = tenant.post("/api/v1/knowledge/qas/", json={
        "question": "How do I contact support?", "answer": "Call 800 111 222."}).json
    run_jobs()
    assert vector_count(app, tenant.org_id) == 1
    resp = tenant.patch(f"/api/v1/knowledge/qas/{qa['id']}",
                        json={"answer": "Write to help@acme.io."})
    assert resp.status_code == 200
    run_jobs()
    assert vector_count(app, tenant.org_id) == 1
    hit = search(tenant, "how can I reach customer support")[0]
    assert "help@acme.io" in hit["text"] and "800" not in hit["text"]
    tags_only = tenant.patch(f"/api/v1/knowledge/qas/{qa['id']}", json={"tags": ["contact"]})
    assert tags_only.json["tags"] == ["contact"] and tags_only.json["status"] == "ready"
    assert tenant.patch(f"/api/v1/knowledge/qas/{qa['id']}",
                        json={"answer": ""}).status_code == 422


def test_delete_qa(app, tenant, run_jobs):
    qa = tenant.post("/api/v1/knowledge/qas/", json={"question": "Q1?", "answer": "A1."}).json
    run_jobs()
    assert tenant.delete(f"/api/v1/knowledge/qas/{qa['id']}").status_code == 204
    assert vector_count(app, tenant.org_id) == 0


def test_an_identical_pair_is_the_existing_source_not_a_second_one(app, tenant, run_jobs):
    pair = {"question": "Do you ship to Sardinia?", "answer": "Yes, in four working days."}
    first = tenant.post("/api/v1/knowledge/qas/", json=pair)
    assert first.status_code == 201
    run_jobs()
    again = tenant.post("/api/v1/knowledge/qas/", json=pair)
    assert again.status_code == 200
    assert again.json["id"] == first.json["id"] and again.json["duplicate"] is True
    other = {"question": "Is gift wrapping free?", "answer": "It costs two euros."}
    bulk = tenant.post("/api/v1/knowledge/qas/", json={"items": [pair, other, other]})
    assert bulk.status_code == 202
    items = bulk.json["items"]
    assert [i["duplicate"] for i in items] == [True, False, False]
    assert items[0]["id"] == first.json["id"] and items[1]["id"] == items[2]["id"]
    run_jobs()
    assert len(tenant.get("/api/v1/knowledge/qas/").json["items"]) == 2
    only_old = tenant.post("/api/v1/knowledge/qas/", json={"items": [pair]})
    assert only_old.status_code == 202 and only_old.json["job_id"] is None
    assert vector_count(app, tenant.org_id) == 2


def test_editing_a_pair_into_a_copy_of_another_is_a_conflict(tenant, run_jobs):
    a = tenant.post("/api/v1/knowledge/qas/", json={"question": "Q one?", "answer": "A."}).json
    b = tenant.post("/api/v1/knowledge/qas/", json={"question": "Q two?", "answer": "A."}).json
    run_jobs()
    resp = tenant.patch(f"/api/v1/knowledge/qas/{b['id']}", json={"question": "Q one?"})
    assert resp.status_code == 409 and resp.json["error"]["code"] == "duplicate_qa"
    assert tenant.get(f"/api/v1/knowledge/qas/{b['id']}").json["question"] == "Q two?"
    assert a["id"] != b["id"]


def test_ten_concurrent_identical_pairs_make_one_source(app, tenant, live_server, run_jobs):
    import httpx

    pair = {"question": "Can I return a kettle?", "answer": "Within thirty days."}

    def send() -> tuple[int, dict]:
        resp = httpx.post(f"{live_server}/api/v1/knowledge/qas/", headers=tenant.headers,
                          json=pair, timeout=60)
        return resp.status_code, resp.json()

    answers = at_once(10, send)
    run_jobs()
    assert sorted(code for code, _ in answers) == [200] * 9 + [201], answers
    assert len({body["id"] for _, body in answers}) == 1
    assert len(tenant.get("/api/v1/knowledge/qas/").json["items"]) == 1
