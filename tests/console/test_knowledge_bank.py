"""The Q&A bank editor and the web-page list: inline validation with the service's own
messages, inline edit over HTMX, CSV import, the URL guard's refusal shown in place."""
from __future__ import annotations

import html
import io
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

PAGE = (b"<html><head><title>Delivery FAQ</title></head><body><nav>Home | Shop</nav>"
        b"<article><h1>Delivery times</h1><p>Orders placed before 2pm ship the same day "
        b"from our Bologna warehouse.</p><p>Islands take two extra working days.</p>"
        b"</article></body></html>")


def qas(corg) -> list[dict]:  # noqa: ANN001
    return corg.tenant.get("/api/v1/knowledge/qas/").json["items"]


def test_adding_a_pair_validates_inline_then_indexes_it(corg, run_jobs):
    admin = corg["admin"]
    resp = admin.post("/console/knowledge/qas/", {"question": "  ", "answer": "We do.",
                                                  "tags": "shipping"})
    assert resp.status_code == 422
    assert 'id="question-error"' in resp.text and "Give a question of 1 to 2000" in resp.text
    assert ">We do.</textarea>" in resp.text  # what was typed is kept
    assert qas(corg) == []

    resp = admin.post("/console/knowledge/qas/", {"question": "Do you ship to Norway?",
                                                  "answer": "Yes, in 5 days.",
                                                  "tags": "shipping, nordics"})
    assert resp.status_code == 302
    assert "Q&amp;A pair added" in admin.client.get(resp.headers["Location"]).text
    run_jobs()
    [pair] = qas(corg)
    assert (pair["question"], pair["tags"], pair["status"]) == (
        "Do you ship to Norway?", ["shipping", "nordics"], "ready")


def test_inline_edit_swaps_an_editor_in_and_saves_through_the_service(corg, run_jobs):
    owner = corg["owner"]
    created = corg.tenant.post("/api/v1/knowledge/qas/", json={
        "question": "Opening hours?", "answer": "9 to 17.", "tags": ["store"]}).json
    run_jobs()
    sid = created["id"]
    editor = owner.client.get(f"/console/knowledge/qas/{sid}/edit",
                              headers={"HX-Request": "true"}).text
    assert editor.startswith("\n<tr") or editor.lstrip().startswith("<tr")
    assert 'class="editing"' in editor and ">9 to 17.</textarea>" in editor
    assert 'value="store"' in editor

    bad = owner.hx_post(f"/console/knowledge/qas/{sid}", {"question": "Opening hours?",
                                                          "answer": "", "tags": "store"})
    assert bad.status_code == 422 and f'id="qa-{sid}-answer-error"' in bad.text
    assert "Give an answer of 1 to 20000 characters." in bad.text
    assert corg.tenant.get(f"/api/v1/knowledge/qas/{sid}").json["answer"] == "9 to 17."

    ok = owner.hx_post(f"/console/knowledge/qas/{sid}", {"question": "Opening hours?",
                                                         "answer": "9 to 18, Mon-Sat.",
                                                         "tags": "store, hours"})
    assert ok.status_code == 200 and "re-indexing" in ok.headers["HX-Trigger"]
    assert "9 to 18, Mon-Sat." in ok.text and 'class="editing"' not in ok.text
    run_jobs()
    api = corg.tenant.get(f"/api/v1/knowledge/qas/{sid}").json
    assert (api["answer"], api["tags"], api["status"]) == ("9 to 18, Mon-Sat.",
                                                           ["store", "hours"], "ready")
    # Without JavaScript the same editor opens on the bank page itself.
    page = owner.client.get(f"/console/knowledge/qas/{sid}/edit").text
    assert "<html" in page and f'id="qa-{sid}-question"' in page


def test_deleting_a_pair_over_htmx_removes_its_row(corg, run_jobs):
    owner = corg["owner"]
    sid = corg.tenant.post("/api/v1/knowledge/qas/", json={
        "question": "Gift wrap?", "answer": "Yes, 3 EUR."}).json["id"]
    run_jobs()
    bank = owner.client.get("/console/knowledge/qas/").text
    assert 'hx-confirm="Delete this Q&amp;A pair?' in bank
    resp = owner.hx_post(f"/console/knowledge/sources/{sid}/delete")
    assert resp.status_code == 200 and resp.text == ""
    assert "deleted" in resp.headers["HX-Trigger"]
    assert qas(corg) == []


def test_csv_import_creates_every_pair_or_none(corg, run_jobs):
    owner = corg["owner"]
    good = (b"question,answer,tags\nDo you ship abroad?,\"Yes, to the EU.\",shipping;eu\n"
            b"Can I return sale items?,Within 14 days.,returns\n")
    resp = owner.post("/console/knowledge/qas/import",
                      {"file": (io.BytesIO(good), "faq.csv")},
                      content_type="multipart/form-data")
    assert resp.status_code == 302
    assert "Imported 2 Q&amp;A pair(s) from faq.csv" in owner.client.get(
        resp.headers["Location"]).text
    run_jobs()
    assert sorted(p["question"] for p in qas(corg)) == ["Can I return sale items?",
                                                        "Do you ship abroad?"]
    assert {p["status"] for p in qas(corg)} == {"ready"}

    broken = b"question,answer\nFine question?,Fine answer.\nNo answer here?,\n"
    resp = owner.post("/console/knowledge/qas/import",
                      {"file": (io.BytesIO(broken), "broken.csv")},
                      content_type="multipart/form-data")
    assert resp.status_code == 422 and 'id="file-error"' in resp.text
    assert "Row 2, answer: Give an answer" in resp.text
    headerless = owner.post("/console/knowledge/qas/import",
                            {"file": (io.BytesIO(b"a,b\nc,d\n"), "x.csv")},
                            content_type="multipart/form-data")
    assert headerless.status_code == 422 and "needs a header" in headerless.text
    assert len(qas(corg)) == 2  # nothing from the refused files


def test_the_csv_example_on_the_page_imports_as_the_pairs_it_shows(corg, run_jobs):
    owner = corg["owner"]
    page = owner.client.get("/console/knowledge/qas/").text
    example = re.search(r'<pre [^>]*data-test="csv-example"[^>]*>(.*?)</pre>', page, re.S)
    assert example, "the Q&A page shows a CSV example"
    copied = html.unescape(example.group(1)).encode()  # what an operator copies verbatim
    resp = owner.post("/console/knowledge/qas/import",
                      {"file": (io.BytesIO(copied), "example.csv")},
                      content_type="multipart/form-data")
    assert resp.status_code == 302
    assert "Imported 1 Q&amp;A pair(s)" in owner.client.get(resp.headers["Location"]).text
    run_jobs()
    [pair] = qas(corg)
    assert (pair["question"], pair["answer"], pair["tags"]) == (
        "Do you ship abroad?", "Yes, to all EU countries.", ["shipping", "eu"])


def test_a_row_with_an_unquoted_comma_is_refused_with_its_line(corg):
    owner = corg["owner"]
    shifted = (b"question,answer,tags\nCan I return sale items?,Within 14 days.,returns\n"
               b"Do you ship abroad?,Yes, to all EU countries.,shipping;eu\n")
    resp = owner.post("/console/knowledge/qas/import",
                      {"file": (io.BytesIO(shifted), "shifted.csv")},
                      content_type="multipart/form-data")
    assert resp.status_code == 422 and 'id="file-error"' in resp.text
    assert ("Line 3 has 4 fields but the header has 3; put a value that contains a comma "
            "in double quotes.") in html.unescape(resp.text)
    api = corg.tenant.post("/api/v1/knowledge/qas/import",
                           data={"file": (io.BytesIO(shifted), "shifted.csv")},
                           content_type="multipart/form-data")
    assert api.status_code == 422
    assert api.json["error"]["details"]["fields"]["file"][0].startswith("Line 3 has 4 fields")
    assert qas(corg) == []  # not even the good first row


@pytest.fixture
def site():  # noqa: ANN201
    """A real web page on a local HTTP server (tests allow loopback fetches)."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_refused_urls_are_explained_under_the_field(corg):
    owner = corg["owner"]
    for url, reason in (("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
                        ("ftp://example.com/file", "only http and https"),
                        ("http://10.1.2.3/", "private")):
        resp = owner.post("/console/knowledge/urls/", {"url": url, "title": ""})
        assert resp.status_code == 422, url
        assert 'id="url-error"' in resp.text and "This URL is not allowed" in resp.text
        assert reason in resp.text, (url, resp.text[resp.text.index("url-error"):][:300])
        assert f'value="{url}"' in resp.text
    assert corg.tenant.get("/api/v1/knowledge/urls/").json["items"] == []


def test_a_page_is_added_then_refreshed_in_place(corg, run_jobs, site):
    owner = corg["owner"]
    resp = owner.post("/console/knowledge/urls/", {"url": site + "/faq", "title": "FAQ"})
    assert resp.status_code == 302
    run_jobs()
    [page] = corg.tenant.get("/api/v1/knowledge/urls/").json["items"]
    assert (page["title"], page["status"]) == ("FAQ", "ready")
    listing = owner.client.get("/console/knowledge/urls/").text
    assert "FAQ" in listing and 'data-test="refresh"' in listing
    refreshed = owner.hx_post(f"/console/knowledge/sources/{page['id']}/refresh")
    assert refreshed.status_code == 200 and f'id="src-{page["id"]}"' in refreshed.text
    assert "unchanged content is not re-embedded" in refreshed.headers["HX-Trigger"]
    run_jobs()
    detail = owner.client.get(f"/console/knowledge/sources/{page['id']}").text
    assert "Bologna warehouse" in detail and re.search(r"Unchanged refreshes", detail)


def test_a_writer_deletes_a_page_from_the_web_pages_tab(corg, run_jobs, site):
    owner, viewer = corg["owner"], corg["viewer"]
    assert owner.post("/console/knowledge/urls/", {"url": site + "/faq",
                                                   "title": "FAQ"}).status_code == 302
    run_jobs()
    [page] = corg.tenant.get("/api/v1/knowledge/urls/").json["items"]
    action = f'action="/console/knowledge/sources/{page["id"]}/delete"'
    assert 'data-confirm="Delete “FAQ”?' in owner.client.get("/console/knowledge/urls/").text
    assert action in owner.client.get("/console/knowledge/urls/").text
    listing = viewer.client.get("/console/knowledge/urls/").text
    assert "FAQ" in listing and action not in listing and 'data-test="delete"' not in listing
    assert viewer.post(f"/console/knowledge/sources/{page['id']}/delete").status_code == 403

    resp = owner.post(f"/console/knowledge/sources/{page['id']}/delete")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/knowledge/urls/")
    after = owner.client.get(resp.headers["Location"]).text
    assert "“FAQ” deleted, with its chunks and vectors." in html.unescape(after)
    assert "No web pages yet." in after
    assert corg.tenant.get("/api/v1/knowledge/urls/").json["items"] == []
