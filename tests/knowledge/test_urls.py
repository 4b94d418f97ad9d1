"""Live URLs through the guarded fetcher, served by a real local HTTP server."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.knowledge.helpers import search, vector_count

PAGE = """<html><head><title>Delivery FAQ</title></head><body>
<nav>Home | Shop | Contact</nav>
<article><h1>Delivery times</h1>
<p>Orders placed before 2pm ship the same day from our Bologna warehouse.</p>
<p>Deliveries to the islands take two extra working days because of ferry schedules.</p>
<p>{extra}</p></article><footer>Copyright</footer></body></html>"""


class _Site:
    def __init__(self) -> None:
        self.extra = "Tracking links are emailed when the parcel leaves the warehouse."
        self.hits = 0
        self.flaky = {"n": 0}


@pytest.fixture
def site():
    state = _Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            state.hits += 1
            if self.path == "/faq":
                body = PAGE.format(extra=state.extra).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path == "/flaky":
                state.flaky["n"] += 1
                if state.flaky["n"] == 1:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = PAGE.format(extra=state.extra).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path == "/to-metadata":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
            else:
                self.send_response(404)
                self.end_headers()

        def log_message(self, *args):  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def test_url_is_fetched_and_main_text_kept(tenant, run_jobs, site):
    resp = tenant.post("/api/v1/knowledge/urls/", json={"url": site.base + "/faq"})
    assert resp.status_code == 202
    run_jobs()
    src = tenant.get(f"/api/v1/knowledge/urls/{resp.json['id']}").json
    assert src["status"] == "ready", src
    assert src["id"].startswith("ku_") and src["title"].startswith("Delivery")
    assert src["summary"] and src["fetched_at"]
    hits = search(tenant, "how long does shipping to Sardinia take?")
    assert "islands" in hits[0]["text"]
    chunks = tenant.get(f"/api/v1/knowledge/sources/{src['id']}/chunks").json["items"]
    assert all("Copyright" not in c["text"] for c in chunks)  # boilerplate dropped


def test_refresh_unchanged_does_not_reembed_and_changed_does(app, tenant, run_jobs, site):
    src = tenant.post("/api/v1/knowledge/urls/", json={"url": site.base + "/faq"}).json
    run_jobs()
    first = tenant.get(f"/api/v1/knowledge/urls/{src['id']}").json
    vectors = vector_count(app, tenant.org_id)
    assert tenant.post(f"/api/v1/knowledge/urls/{src['id']}/refresh").status_code == 202
    run_jobs()
    same = tenant.get(f"/api/v1/knowledge/urls/{src['id']}").json
    assert same["status"] == "ready" and same["indexed_at"] == first["indexed_at"]
    assert same["metadata"]["unchanged_refreshes"] == 1
    assert vector_count(app, tenant.org_id) == vectors
    site.extra = "Gift wrapping is available for a small fee at checkout."
    tenant.post(f"/api/v1/knowledge/urls/{src['id']}/refresh")
    run_jobs()
    changed = tenant.get(f"/api/v1/knowledge/urls/{src['id']}").json
    assert changed["indexed_at"] != first["indexed_at"]
    assert changed["content_sha256"] != first["content_sha256"]
    assert vector_count(app, tenant.org_id) == changed["chunk_count"]
    assert "Gift wrapping" in search(tenant, "can you wrap my present")[0]["text"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://localhost/", "http://10.0.0.8/", "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://0.0.0.0/",
    "http://2130706433/", "http://0x7f.1/", "http://[::ffff:127.0.0.1]/",
    "http://metadata.google.internal/", "ftp://example.com/file",
    "file:///etc/passwd", "http://example.com:8080/",
])
def test_refused_urls_are_422_and_nothing_is_created(app, tenant, url):
    app.config["URL_FETCH_ALLOW_LOOPBACK"] = False
    try:
        resp = tenant.post("/api/v1/knowledge/urls/", json={"url": url})
    finally:
        app.config["URL_FETCH_ALLOW_LOOPBACK"] = True
    assert resp.status_code == 422, (url, resp.json)
    assert resp.json["error"]["code"] in {"url_not_allowed", "validation_error"}
    assert tenant.get("/api/v1/knowledge/urls/").json["items"] == []


def test_redirect_to_a_refused_address_fails_the_source(tenant, run_jobs, site):
    resp = tenant.post("/api/v1/knowledge/urls/", json={"url": site.base + "/to-metadata"})
    assert resp.status_code == 202
    run_jobs()
    src = tenant.get(f"/api/v1/knowledge/urls/{resp.json['id']}").json
    assert src["status"] == "failed" and "not allowed" in src["error"]
    assert src["chunk_count"] == 0


def test_dead_page_fails_with_reason(tenant, run_jobs, site):
    resp = tenant.post("/api/v1/knowledge/urls/", json={"url": site.base + "/gone"})
    run_jobs()
    src = tenant.get(f"/api/v1/knowledge/urls/{resp.json['id']}").json
    assert src["status"] == "failed" and "404" in src["error"]
    job = tenant.get(f"/api/v1/jobs/{src['job_id']}").json
    assert job["status"] == "failed" and job["error"]


@pytest.mark.services
def test_transient_failure_is_retried_by_rq_and_then_succeeds(tenant, run_jobs, site):
    """A 503 is temporary: RQ retries the job with backoff and the source ends ready."""
    calls = {"n": 0}
    original = site.extra

    site.flaky = calls  # the first fetch of /flaky answers 503, later ones the page
    resp = tenant.post("/api/v1/knowledge/urls/", json={"url": site.base + "/flaky"})
    assert resp.status_code == 202
    run_jobs()
    src = tenant.get(f"/api/v1/knowledge/urls/{resp.json['id']}").json
    assert src["status"] == "ready", src
    assert calls["n"] == 2 and site.extra == original
    job = tenant.get(f"/api/v1/jobs/{src['job_id']}").json
    assert job["status"] == "succeeded" and job["attempts"] == 2


def _long_text(topic: str, sections: int = 24) -> str:
    return "\n\n".join(
        f"Section {n} about {topic}: " + " ".join(
            f"Rule {n}.{k} says the {topic} desk handles case {n * 100 + k} within {k} days."
            for k in range(1, 14)) for n in range(1, sections + 1))


@pytest.fixture
def pieces(app):  # noqa: ANN001
    """Small pieces so a modest document goes the large-source way: 3 chunks per piece,
    and every piece hands over to a new job."""
    saved = {k: app.config[k] for k in ("INGEST_PIECE_CHUNKS", "INGEST_PIECE_BATCH",
                                        "INGEST_PIECE_SECONDS")}
    app.config.update(INGEST_PIECE_CHUNKS=5, INGEST_PIECE_BATCH=3, INGEST_PIECE_SECONDS=0)
    yield
    app.config.update(saved)


def test_a_large_source_is_indexed_in_pieces_each_its_own_job(app, tenant, run_jobs, pieces):
    from extensions import db
    from models.jobs import Job

    resp = tenant.post("/api/v1/knowledge/files/", data={
        "file": (__import__("io").BytesIO(_long_text("refunds").encode()), "big.txt")},
        content_type="multipart/form-data")
    assert resp.status_code == 202
    run_jobs()
    src = tenant.get(f"/api/v1/knowledge/files/{resp.json['id']}").json
    assert src["status"] == "ready", src
    assert src["chunk_count"] > 6 and "pieces" not in (src["metadata"] or {})
    with app.app_context():
        jobs = db.session.query(Job).filter(Job.org_id == tenant.org_id).all()
    expected = -(-src["chunk_count"] // 3)  # one job per piece of three chunks
    assert len(jobs) == expected and {j.status for j in jobs} == {"succeeded"}
    assert vector_count(app, tenant.org_id) == src["chunk_count"]
    hit = search(tenant, "which desk handles case 2405")[0]
    assert hit["source_id"] == src["id"] and "case 2405" in hit["text"]


def test_a_large_page_refreshed_in_pieces_replaces_its_chunks_at_the_end(
        app, tenant, run_jobs, site, pieces):
    site.extra = _long_text("warranty")
    src = tenant.post("/api/v1/knowledge/urls/", json={"url": site.base + "/faq"}).json
    run_jobs()
    first = tenant.get(f"/api/v1/knowledge/urls/{src['id']}").json
    assert first["status"] == "ready" and first["chunk_count"] > 6
    site.extra = _long_text("exchanges", sections=20)
    tenant.post(f"/api/v1/knowledge/urls/{src['id']}/refresh")
    run_jobs()
    after = tenant.get(f"/api/v1/knowledge/urls/{src['id']}").json
    assert after["status"] == "ready"
    chunks = tenant.get(f"/api/v1/knowledge/sources/{src['id']}/chunks?limit=100").json["items"]
    assert len(chunks) == after["chunk_count"]
    assert not any("warranty" in c["text"] for c in chunks)  # the old chunks are gone
    assert vector_count(app, tenant.org_id) == after["chunk_count"]
    assert "exchanges" in search(tenant, "which desk handles case 1503")[0]["text"]


def test_many_pages_in_one_request_are_fetched_by_one_batched_job(tenant, run_jobs, site):
    resp = tenant.post("/api/v1/knowledge/urls/", json={"items": [
        {"url": site.base + "/faq", "title": "FAQ"}, {"url": site.base + "/flaky"}]})
    assert resp.status_code == 202, resp.json
    assert len(resp.json["items"]) == 2 and resp.json["job_id"]
    assert {i["job_id"] for i in resp.json["items"]} == {resp.json["job_id"]}
    run_jobs()
    states = [tenant.get(f"/api/v1/knowledge/urls/{i['id']}").json for i in resp.json["items"]]
    assert states[0]["status"] == "ready" and states[0]["title"] == "FAQ"
    # the flaky page answers 503 once: in a batch it fails alone, with its reason
    assert states[1]["status"] in ("ready", "failed")
    assert states[1]["status"] == "ready" or states[1]["error"]


def test_one_refused_address_refuses_the_whole_batch(tenant, site):
    resp = tenant.post("/api/v1/knowledge/urls/", json={"items": [
        {"url": site.base + "/faq"}, {"url": "http://169.254.169.254/latest/meta-data/"}]})
    assert resp.status_code == 422
    assert "items.1.url" in resp.json["error"]["details"]["fields"]
    assert tenant.get("/api/v1/knowledge/urls/").json["items"] == []
