"""Hostile and broken uploads: a clear 4xx or a `failed` source with a reason, never a
half-made source, and the next job still runs."""
from __future__ import annotations

import io
import json

from tests.knowledge.helpers import ingest, search, upload, vector_count  # noqa: F401


def test_oversize_upload_is_413_before_parsing(app, tenant):
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    try:
        resp = upload(tenant, b"a" * 20_000, "big.txt")
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert resp.status_code == 413
    assert resp.json["error"]["code"] == "file_too_large"
    assert tenant.get("/api/v1/knowledge/files/").json["items"] == []


def test_unsupported_binary_is_415(tenant):
    resp = upload(tenant, b"GIF89a" + bytes(range(256)) * 4, "picture.png")
    assert resp.status_code == 415
    assert resp.json["error"]["code"] == "unsupported_file_type"
    resp = upload(tenant, b"PK\x03\x04" + b"\x00" * 100, "notes.txt")
    assert resp.status_code == 415
    assert tenant.get("/api/v1/knowledge/files/").json["items"] == []


def test_missing_or_empty_file_is_422(tenant):
    resp = tenant.post("/api/v1/knowledge/files/", data={"title": "x"},
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and "file" in resp.json["error"]["details"]["fields"]
    assert upload(tenant, b"", "empty.txt").status_code == 422


def _failed(tenant, run_jobs, data: bytes, name: str) -> dict:  # noqa: ANN001
    resp = upload(tenant, data, name)
    assert resp.status_code in (202, 415, 422), resp.json
    if resp.status_code != 202:
        return {"status": "refused", "error": resp.json["error"]["message"]}
    run_jobs()
    src = tenant.get(f"/api/v1/knowledge/files/{resp.json['id']}").json
    assert src["status"] == "failed", src
    assert src["error"] and src["chunk_count"] == 0
    return src


def test_corrupt_pdf_fails_cleanly(app, tenant, run_jobs):
    src = _failed(tenant, run_jobs, b"%PDF-1.7\n1 0 obj <<>>\nbroken xref\n%%EOF", "bad.pdf")
    assert "PDF" in src["error"] or "read" in src["error"]
    assert vector_count(app, tenant.org_id) == 0


def test_encrypted_pdf_fails_with_reason(tenant, run_jobs, make_pdf):
    src = _failed(tenant, run_jobs, make_pdf(["secret page"], encrypt="pw"), "locked.pdf")
    assert "encrypt" in src["error"].lower() or "password" in src["error"].lower()


def test_image_bomb_is_refused(tenant, run_jobs):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buf, format="PNG")
    src = _failed(tenant, run_jobs, buf.getvalue(), "bomb.png")
    assert "large" in src["error"].lower() or "pixel" in src["error"].lower()


def test_json_nested_10000_deep_is_refused(tenant, run_jobs):
    deep = ("[" * 10_000 + "]" * 10_000).encode()
    src = _failed(tenant, run_jobs, deep, "deep.json")
    assert "deep" in src["error"].lower() or "nest" in src["error"].lower()


def test_invalid_utf8_and_nul_bytes(tenant, run_jobs):
    resp = upload(tenant, b"caf\xe9 \xff\xfe broken" * 20, "latin.txt")
    assert resp.status_code in (415, 422)
    # NUL bytes mark content as binary: refused before anything is stored
    resp = upload(tenant, b"Opening hours\x00 are nine to five.", "nul.txt")
    assert resp.status_code == 415
    assert tenant.get("/api/v1/knowledge/files/").json["items"] == []
    resp = tenant.post("/api/v1/knowledge/qas/", json={"question": "a\u0000b", "answer": "c"})
    assert resp.status_code == 422


def test_next_job_runs_after_a_failure(tenant, run_jobs, make_pdf):
    _failed(tenant, run_jobs, b"%PDF-1.4 garbage", "bad.pdf")
    ok = ingest(tenant, run_jobs, b"Loyalty points expire after twelve months.", "ok.txt")
    assert ok["status"] == "ready"
    assert search(tenant, "when do my points expire")[0]["source_id"] == ok["id"]


def test_csv_with_huge_cell_is_truncated_not_fatal(tenant, run_jobs):
    data = ("name,notes\nalpha," + "x" * (10 * 1024 * 1024) + "\nbeta,short note\n").encode()
    resp = upload(tenant, data, "huge.csv")
    assert resp.status_code in (202, 413, 422)
    if resp.status_code == 202:
        run_jobs()
        src = tenant.get(f"/api/v1/knowledge/files/{resp.json['id']}").json
        assert src["status"] in ("ready", "failed") and (src["status"] == "ready" or src["error"])


def test_unknown_json_fields_and_malformed_bodies(tenant):
    resp = tenant.post("/api/v1/knowledge/qas/", json={"question": "q", "answer": "a",
                                                       "bogus": 1})
    assert resp.status_code == 422
    assert json.loads(resp.data)["error"]["details"]["fields"]["bogus"] == ["Unknown field."]
