"""Knowledge through the console: the library, uploads, source pages, re-embed and the
search tester — the same services and rules as the API, answered as pages and fragments."""
from __future__ import annotations

import io
import re

import pytest

from tests.console.conftest import ROLES, make_story

TEXT = (b"# Returns\n\nItems can be returned within 30 days of delivery.\n\n"
        b"# Warranty\n\nEvery kettle carries a two-year warranty against defects.\n")


def api_source(corg, source_id: str, kind: str = "files"):  # noqa: ANN201
    return corg.tenant.get(f"/api/v1/knowledge/{kind}/{source_id}")


def upload_hx(op, data: bytes, name: str, title: str | None = None):  # noqa: ANN001, ANN201
    """What the page's uploader sends for one file: multipart, HX-Request, header token."""
    form = {"file": (io.BytesIO(data), name)}
    if title:
        form["title"] = title
    return op.client.post("/console/knowledge/files", data=form,
                          content_type="multipart/form-data",
                          headers={"HX-Request": "true", "X-CSRFToken": op.csrf})


def source_id_of(row_html: str) -> str:
    return re.search(r'id="src-(k[fqu]_\w+)"', row_html).group(1)


@pytest.mark.parametrize("role", ROLES)
def test_every_knowledge_page_renders_for_every_role(corg, run_jobs, role):
    story = make_story(corg.tenant, run_jobs)
    op = corg[role]
    pages = ["/console/knowledge/", "/console/knowledge/?kind=qa&status=ready",
             f"/console/knowledge/sources/{story.source_id}", "/console/knowledge/qas/",
             "/console/knowledge/urls/", "/console/knowledge/search/",
             "/console/knowledge/search/?query=ship+to+Switzerland"]
    for path in pages:
        resp = op.client.get(path)
        assert resp.status_code == 200, (path, resp.text[:300])
        assert f"role-{role}" in resp.text and '<meta name="csrf-token"' in resp.text
    for fragment in (f"/console/knowledge/sources/{story.source_id}/row",
                     f"/console/knowledge/sources/{story.source_id}/status",
                     f"/console/knowledge/qas/{story.source_id}/row",
                     f"/console/knowledge/jobs/{story.job_id}"):
        assert op.client.get(fragment, headers={"HX-Request": "true"}).status_code == 200
    nav = op.client.get("/console/").text
    assert 'href="/console/knowledge/"' in nav  # the sidebar entry lit up


def test_viewer_sees_the_library_but_no_control_that_changes_it(corg, run_jobs):
    story = make_story(corg.tenant, run_jobs)
    viewer = corg["viewer"].client
    library = viewer.get("/console/knowledge/").text
    assert "Do you ship to Switzerland?" in library
    assert "data-upload" not in library and "Re-embed" not in library
    detail = viewer.get(f"/console/knowledge/sources/{story.source_id}").text
    assert "Delete" not in detail and "Re-embed" not in detail
    bank = viewer.get("/console/knowledge/qas/").text
    assert "Add a pair" not in bank and "hx-post" not in bank and "Import" not in bank
    assert viewer.get(f"/console/knowledge/qas/{story.source_id}/edit").status_code == 403
    assert "Add page" not in viewer.get("/console/knowledge/urls/").text


def test_several_files_in_one_plain_form_post_each_become_a_source(corg, run_jobs, make_pdf):
    owner = corg["owner"]
    pdf = make_pdf(["Opening hours: Monday to Friday, 9 to 18.", "Closed on Sundays."])
    resp = owner.post("/console/knowledge/files", {"file": [
        (io.BytesIO(TEXT), "policies.md"), (io.BytesIO(pdf), "hours.pdf"),
        (io.BytesIO(b"\x00\x01\x02garbage\xff" * 10), "mystery.bin")]},
        content_type="multipart/form-data")
    assert resp.status_code == 302
    page = owner.client.get(resp.headers["Location"]).text
    assert "2 file(s) uploaded" in page and "Refused: mystery.bin:" in page
    run_jobs()
    files = corg.tenant.get("/api/v1/knowledge/files/").json["items"]
    assert sorted(f["title"] for f in files) == ["hours.pdf", "policies.md"]
    assert {f["status"] for f in files} == {"ready"}


def test_uploader_gets_a_row_that_polls_until_the_source_settles(corg, run_jobs):
    owner = corg["owner"]
    resp = upload_hx(owner, TEXT, "policies.md", title="Store policies")
    assert resp.status_code == 202
    assert '"toast"' in resp.headers["HX-Trigger"] and "processing started" in resp.headers[
        "HX-Trigger"]
    sid = source_id_of(resp.text)
    pending = 'data-status="queued"' in resp.text or 'data-status="processing"' in resp.text
    assert pending == ('hx-trigger="every 2s"' in resp.text)  # polls only while pending
    run_jobs()
    settled = owner.client.get(f"/console/knowledge/sources/{sid}/row",
                               headers={"HX-Request": "true"})
    row = settled.text
    assert 'data-status="ready"' in row and "hx-trigger" not in row
    assert settled.headers["HX-Trigger"] == "knowledge-changed"  # the counts refresh
    counts = owner.client.get("/console/knowledge/counts", headers={"HX-Request": "true"})
    assert 'data-total="1"' in counts.text and "1 ready" in counts.text
    assert "Store policies" in row and "policies.md" in row
    assert api_source(corg, sid).json["status"] == "ready"

    again = upload_hx(owner, TEXT, "copy.md")  # identical content: the existing source
    assert again.status_code == 200 and source_id_of(again.text) == sid
    assert "already uploaded" in again.headers["HX-Trigger"]


def test_a_row_in_flight_shows_its_job_progress_and_keeps_polling(app, corg, run_jobs):
    story = make_story(corg.tenant, run_jobs)
    from extensions import db
    from models.jobs import Job
    from models.knowledge import KnowledgeSource

    with app.app_context():  # a worker is halfway through this source
        db.session.get(KnowledgeSource, story.source_id).status = "processing"
        job = db.session.get(Job, story.job_id)
        job.status, job.progress = "running", 40
        db.session.commit()
    owner = corg["owner"].client
    polled = owner.get(f"/console/knowledge/sources/{story.source_id}/row")
    assert 'hx-trigger="every 2s"' in polled.text and 'aria-valuenow="40"' in polled.text
    assert "HX-Trigger" not in polled.headers
    status = owner.get(f"/console/knowledge/sources/{story.source_id}/status?poll=1",
                       headers={"HX-Request": "true"})
    assert "HX-Refresh" not in status.headers and 'hx-trigger="every 2s"' in status.text
    with app.app_context():
        db.session.get(KnowledgeSource, story.source_id).status = "ready"
        db.session.commit()
    settled = owner.get(f"/console/knowledge/sources/{story.source_id}/status?poll=1",
                        headers={"HX-Request": "true"})
    assert settled.headers["HX-Refresh"] == "true"  # the page reloads to show the chunks


def test_upload_refusals_come_back_per_file_with_the_api_message(corg):
    owner = corg["owner"]
    bad = upload_hx(owner, b"\x00\x01\x02garbage\xff" * 10, "mystery.bin")
    assert bad.status_code == 415
    assert "mystery.bin" in bad.text and "upload-error" in bad.text
    assert '"level": "error"' in bad.headers["HX-Trigger"]
    empty = upload_hx(owner, b"", "empty.txt")
    assert empty.status_code == 422 and "The file is empty." in empty.text
    assert corg.tenant.get("/api/v1/knowledge/files/").json["items"] == []


def test_source_detail_has_summary_keywords_metadata_and_page_labelled_chunks(
        corg, run_jobs, make_pdf):
    owner = corg["owner"]
    pdf = make_pdf(["Kettle manual. The kettle boils one litre of water in three minutes.",
                    "Descaling: use white vinegar once a month to descale the kettle."],
                   title="Kettle manual", author="Acme")
    sid = source_id_of(upload_hx(owner, pdf, "kettle.pdf").text)
    run_jobs()
    html = owner.client.get(f"/console/knowledge/sources/{sid}").text
    source = api_source(corg, sid).json
    assert source["summary"] and source["summary"][:40] in html
    assert all(k in html for k in source["keywords"][:3])
    assert "page 1" in html and "page 2" in html  # provenance of each chunk
    assert "descale" in html and "application/pdf" not in html
    assert ">pdf<" in html and "multilingual-e5-small" in html and "<code>en</code>" in html
    assert 'data-job-status="succeeded"' in html
    assert "hx-trigger" not in html  # settled: nothing polls


def test_delete_removes_the_source_and_refresh_is_for_urls_only(corg, run_jobs):
    story = make_story(corg.tenant, run_jobs)
    owner = corg["owner"]
    assert owner.post(f"/console/knowledge/sources/{story.source_id}/refresh").status_code \
        == 404  # a Q&A pair is not a web page
    resp = owner.post(f"/console/knowledge/sources/{story.source_id}/delete")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/knowledge/qas/")
    assert "deleted, with its chunks" in owner.client.get(resp.headers["Location"]).text
    assert api_source(corg, story.source_id, "qas").status_code == 404
    hits = corg.tenant.post("/api/v1/knowledge/search", json={"query": "Switzerland"}).json
    assert hits["items"] == []


def test_reembed_queues_one_job_and_the_library_shows_its_progress(corg, run_jobs):
    story = make_story(corg.tenant, run_jobs)
    owner = corg["owner"]
    resp = owner.post("/console/knowledge/reembed")
    assert resp.status_code == 302
    job_id = re.search(r"job=(job_\w+)", resp.headers["Location"]).group(1)
    run_jobs()
    page = owner.client.get(resp.headers["Location"]).text
    assert "Re-embedding" in page and job_id in page
    assert 'data-job-status="succeeded"' in page
    stale = owner.client.get("/console/knowledge/?job=job_000000000000000000000000")
    assert stale.status_code == 200 and "data-job-status" not in stale.text
    assert corg.tenant.get(f"/api/v1/jobs/{job_id}").json["status"] == "succeeded"
    one = owner.post("/console/knowledge/reembed", {"source_id": story.source_id})
    assert one.headers["Location"].endswith(f"/sources/{story.source_id}")
    assert owner.post("/console/knowledge/reembed",
                      {"source_id": "kq_000000000000000000000000"}).status_code == 404


def test_filters_and_htmx_paging_of_the_library(corg, run_jobs):
    items = [{"question": f"Question number {i}?", "answer": f"Answer {i}."}
             for i in range(30)]
    assert corg.tenant.post("/api/v1/knowledge/qas/", json={"items": items}).status_code == 202
    run_jobs()
    owner = corg["owner"].client
    first = owner.get("/console/knowledge/?kind=qa").text
    assert first.count('data-source="kq_') == 25
    more = re.search(r'hx-get="([^"]*cursor=[^"]+)"', first).group(1).replace("&amp;", "&")
    rest = owner.get(more, headers={"HX-Request": "true"}).text
    assert rest.count('data-source="kq_') == 5 and "<html" not in rest
    assert "load-more" not in rest
    assert "Nothing matches" in owner.get("/console/knowledge/?kind=url",
                                          headers={"HX-Request": "true"}).text
    assert "Nothing matches" in owner.get("/console/knowledge/?status=failed").text
    assert "30 sources" in owner.get("/console/knowledge/?kind=bogus").text


def test_search_tester_ranks_like_the_api_and_respects_an_assistants_scope(corg, run_jobs):
    story = make_story(corg.tenant, run_jobs)
    other = corg.tenant.post("/api/v1/knowledge/qas/", json={
        "question": "Can I pay with PayPal?", "answer": "Yes, PayPal and cards are accepted."})
    run_jobs()
    owner = corg["owner"].client
    html = owner.get("/console/knowledge/search/?query=Do+you+deliver+to+Switzerland",
                     headers={"HX-Request": "true"}).text
    api = corg.tenant.post("/api/v1/knowledge/search",
                           json={"query": "Do you deliver to Switzerland"}).json["items"]
    ranked = re.findall(r'data-hit="\d+" data-source="(\w+)"', html)
    assert ranked == [h["source_id"] for h in api] and ranked[0] == story.source_id
    assert f'{api[0]["score"]:.3f}' in html and "question &amp; answer" in html

    corg.tenant.put(f"/api/v1/assistants/{story.assistant_id}/knowledge",
                    json={"mode": "linked", "linked": [other.json["id"]], "excluded": []})
    scoped = owner.get(f"/console/knowledge/search/?query=Switzerland&assistant_id="
                       f"{story.assistant_id}", headers={"HX-Request": "true"}).text
    assert story.source_id not in scoped
    assert owner.get("/console/knowledge/search/?query=x&assistant_id=asst_nope").status_code \
        == 404
    long = owner.get("/console/knowledge/search/?query=" + "a" * 2001)
    assert long.status_code == 422 and "at most 2000 characters" in long.text


def test_forms_without_the_csrf_token_are_refused(corg):
    owner = corg["owner"].client
    resp = owner.post("/console/knowledge/qas/", data={"question": "Q?", "answer": "A."})
    assert resp.status_code == 400 and "This form expired" in resp.text
    resp = owner.post("/console/knowledge/files", data={"file": (io.BytesIO(TEXT), "a.md")},
                      content_type="multipart/form-data", headers={"HX-Request": "true"})
    assert resp.status_code == 400
    assert corg.tenant.get("/api/v1/knowledge/qas/").json["items"] == []
    assert corg.tenant.get("/api/v1/knowledge/files/").json["items"] == []
