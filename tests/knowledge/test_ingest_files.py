"""Every file type end to end through the real pipeline to `ready`, with provenance."""
from __future__ import annotations

import json

from tests.knowledge.helpers import at_once, ingest, search, upload, vector_count

PAGES = [
    "Returns policy\nCustomers may return unused items within 30 days of delivery.\n"
    "Refunds are issued to the original payment method within five business days.",
    "Shipping\nStandard shipping to Italy takes three to five working days.\n"
    "Express delivery arrives the next day when ordered before noon.",
    "Warranty\nAll kettles carry a two year manufacturer warranty against defects.\n"
    "The warranty does not cover limescale damage or accidental drops.",
]


def test_pdf_pages_become_chunk_provenance(app, tenant, run_jobs, make_pdf):
    source = ingest(tenant, run_jobs, make_pdf(PAGES, title="Store handbook"), "handbook.pdf")
    assert source["status"] == "ready", source
    assert source["kind"] == "file" and source["file_type"] == "pdf"
    assert source["summary"] and source["keywords"]
    assert source["chunk_count"] >= 3 and source["embedding_model"]
    assert source["indexed_at"].endswith("Z") and len(source["content_sha256"]) == 64
    chunks = tenant.get(f"/api/v1/knowledge/sources/{source['id']}/chunks").json["items"]
    assert {c["provenance"].get("page") for c in chunks} == {1, 2, 3}
    assert vector_count(app, tenant.org_id) == source["chunk_count"]
    job = tenant.get(f"/api/v1/jobs/{source['job_id']}").json
    assert (job["status"], job["progress"], job["error"]) == ("succeeded", 100, None)


def test_paraphrased_question_finds_the_right_page(tenant, run_jobs, make_pdf):
    ingest(tenant, run_jobs, make_pdf(PAGES), "handbook.pdf")
    hits = search(tenant, "how long is the guarantee on my kettle?")
    assert hits and hits[0]["provenance"]["page"] == 3
    assert "warranty" in hits[0]["text"].lower()
    assert 0 < hits[0]["score"] <= 1
    hits = search(tenant, "can I send back something I bought?")
    assert hits[0]["provenance"]["page"] == 1


def test_csv_rows_are_header_aware(tenant, run_jobs):
    data = (b"city,opening_hours,phone\nMilano,9-18,02 1234\nRoma,10-19,06 5678\n"
            b"Torino,8-17,011 999\n")
    source = ingest(tenant, run_jobs, data, "stores.txt")  # the name lies; content decides
    assert source["status"] == "ready" and source["file_type"] == "csv"
    hits = search(tenant, "when does the Roma store open?")
    assert "opening_hours: 10-19" in hits[0]["text"]
    assert "rows" in hits[0]["provenance"]


def test_nested_json_is_flattened_with_paths(tenant, run_jobs, products_json):
    source = ingest(tenant, run_jobs, products_json, "catalog.json")
    assert source["status"] == "ready" and source["file_type"] == "json"
    hits = search(tenant, "how much does the Fjord Tent cost?")
    assert "349" in hits[0]["text"]
    assert hits[0]["provenance"]["path"].startswith("$")


def test_markdown_keeps_heading_provenance(tenant, run_jobs):
    md = (b"# Setup\n\nPlug the router into the wall socket.\n\n## Wi-Fi password\n\n"
          b"The default Wi-Fi password is printed under the router, labelled WPA key.\n\n"
          b"# Billing\n\nInvoices are emailed on the first of each month.\n")
    source = ingest(tenant, run_jobs, md, "guide.md")
    assert source["status"] == "ready" and source["file_type"] == "text"
    hits = search(tenant, "where do I find the wireless password?")
    assert "WPA key" in hits[0]["text"]
    assert "Wi-Fi password" in hits[0]["provenance"].get("heading", "")


def test_png_text_is_read_by_ocr_with_metadata(tenant, run_jobs, make_text_image):
    png = make_text_image(["INVOICE NUMBER 4471", "TOTAL DUE 320 EUR"])
    source = ingest(tenant, run_jobs, png, "scan.bin")
    assert source["status"] == "ready", source
    assert source["file_type"] == "png"
    assert source["metadata"]["width"] == 1400 and source["metadata"]["height"] > 100
    chunks = tenant.get(f"/api/v1/knowledge/sources/{source['id']}/chunks").json["items"]
    assert "4471" in " ".join(c["text"] for c in chunks)


def test_identical_reupload_adds_no_vectors(app, tenant, run_jobs, make_pdf):
    pdf = make_pdf(PAGES)
    first = ingest(tenant, run_jobs, pdf, "a.pdf")
    before = vector_count(app, tenant.org_id)
    again = upload(tenant, pdf, "renamed.pdf")
    assert again.status_code == 200 and again.json["duplicate"] is True
    assert again.json["id"] == first["id"]
    run_jobs()
    assert vector_count(app, tenant.org_id) == before
    assert len(tenant.get("/api/v1/knowledge/files/").json["items"]) == 1


def test_delete_removes_chunks_and_vectors(app, tenant, run_jobs, make_pdf):
    source = ingest(tenant, run_jobs, make_pdf(PAGES), "a.pdf")
    assert vector_count(app, tenant.org_id) > 0
    assert tenant.delete(f"/api/v1/knowledge/files/{source['id']}").status_code == 204
    assert vector_count(app, tenant.org_id) == 0
    assert tenant.get(f"/api/v1/knowledge/files/{source['id']}").status_code == 404
    assert search(tenant, "warranty on kettles") == []


def test_list_and_filters(tenant, run_jobs, make_pdf):
    ingest(tenant, run_jobs, make_pdf(PAGES), "a.pdf")
    ingest(tenant, run_jobs, b"Plain words about our loyalty programme and its points.", "n.txt")
    items = tenant.get("/api/v1/knowledge/files/?status=ready").json["items"]
    assert len(items) == 2 and items[0]["filename"] == "n.txt"  # newest first
    assert tenant.get("/api/v1/knowledge/files/?status=failed").json["items"] == []
    assert tenant.get("/api/v1/knowledge/files/?status=bogus").status_code == 422


def test_reembed_rebuilds_without_duplicates(app, tenant, run_jobs, make_pdf):
    source = ingest(tenant, run_jobs, make_pdf(PAGES), "a.pdf")
    count = vector_count(app, tenant.org_id)
    resp = tenant.post("/api/v1/knowledge/reembed", json={})
    assert resp.status_code == 202
    run_jobs()
    job = tenant.get(f"/api/v1/jobs/{resp.json['job_id']}").json
    assert job["status"] == "succeeded"
    assert vector_count(app, tenant.org_id) == count == source["chunk_count"]
    assert search(tenant, "two year warranty")[0]["source_id"] == source["id"]
    one = tenant.post("/api/v1/knowledge/reembed", json={"source_ids": [source["id"]]})
    assert one.status_code == 202
    bad = tenant.post("/api/v1/knowledge/reembed", json={"source_ids": ["kf_nope"]})
    assert bad.status_code == 404


def test_search_validation(tenant):
    assert tenant.post("/api/v1/knowledge/search", json={"query": ""}).status_code == 422
    assert tenant.post("/api/v1/knowledge/search",
                       json={"query": "x", "top_k": 500}).status_code == 422
    resp = tenant.post("/api/v1/knowledge/search",
                       json={"query": "x", "assistant_id": "asst_missing"})
    assert resp.status_code == 404
    assert json.loads(resp.data)["error"]["code"] == "not_found"


def test_ten_concurrent_identical_uploads_make_one_source(app, tenant, live_server, run_jobs):
    """Over real HTTP, ten requests at once: the database's unique (org, digest) for files
    decides, and every loser answers 200 `duplicate: true` with the winner's source."""
    import httpx

    data = b"Concurrent uploads of one manual must make exactly one source.\n" * 20

    def send() -> tuple[int, dict]:
        resp = httpx.post(f"{live_server}/api/v1/knowledge/files/", headers=tenant.headers,
                          files={"file": ("manual.txt", data, "text/plain")}, timeout=60)
        return resp.status_code, resp.json()

    answers = at_once(10, send)
    run_jobs()
    assert sorted(code for code, _ in answers) == [200] * 9 + [202], answers
    assert len({body["id"] for _, body in answers}) == 1
    assert sum(body["duplicate"] for _, body in answers) == 9
    listed = tenant.get("/api/v1/knowledge/files/").json["items"]
    assert len([s for s in listed if s["kind"] == "file"]) == 1


def test_a_bulk_upload_with_one_bad_file_fails_that_file_only(app, tenant, run_jobs):
    """Several `file` fields: one batched job; the file with no text fails with its
    reason, the others are ready and searchable."""
    import io

    form = {"file": [(io.BytesIO(b"Shipping to Sicily takes three days."), "sicily.txt"),
                     (io.BytesIO(b"   \n\n  \n"), "blank.txt"),
                     (io.BytesIO(b"Gift cards never expire."), "gift.txt")]}
    resp = tenant.post("/api/v1/knowledge/files/", data=form,
                       content_type="multipart/form-data")
    assert resp.status_code == 202, resp.json
    items = resp.json["items"]
    assert [i["filename"] for i in items] == ["sicily.txt", "blank.txt", "gift.txt"]
    assert resp.json["job_id"] and not any(i["duplicate"] for i in items)
    run_jobs()
    states = {i["filename"]: tenant.get(f"/api/v1/knowledge/files/{i['id']}").json
              for i in items}
    assert states["sicily.txt"]["status"] == "ready"
    assert states["gift.txt"]["status"] == "ready"
    assert states["blank.txt"]["status"] == "failed"
    assert "no text" in states["blank.txt"]["error"]
    assert search(tenant, "gift cards expire")[0]["source_id"] == states["gift.txt"]["id"]
    job = tenant.get(f"/api/v1/jobs/{resp.json['job_id']}").json
    assert job["status"] == "failed" and items[1]["id"] in job["error"]


def test_a_bulk_upload_refuses_a_bad_file_before_storing_any(app, tenant):
    import io

    form = {"file": [(io.BytesIO(b"Fine text."), "ok.txt"), (io.BytesIO(b""), "empty.txt")]}
    resp = tenant.post("/api/v1/knowledge/files/", data=form,
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and "files[1]" in resp.json["error"]["details"]["fields"]
    assert tenant.get("/api/v1/knowledge/files/").json["items"] == []
