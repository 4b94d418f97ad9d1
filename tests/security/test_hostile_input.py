"""Item 3 — hostile input beyond tests/knowledge/test_hostile_files.py (which covers
Content-Length oversize, unsupported/corrupt/encrypted files, image bombs, deep JSON *files*,
invalid UTF-8 files): chunked uploads without Content-Length, chunked and deep JSON bodies,
invalid UTF-8 and NUL bytes in JSON bodies/queries/forms, a PDF decompression bomb with
measured memory, and a worker under an address-space limit that fails one job cleanly and
runs the next.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from tests.knowledge.helpers import ingest, upload

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


def bomb_pdf(inflated_mib: int = 400, filler: bytes = b" ") -> bytes:
    """A valid one-page PDF whose FlateDecode content stream inflates to `inflated_mib`
    MiB (≈1000:1), built by hand with zlib."""
    comp = zlib.compressobj(9)
    block = filler * MiB
    parts = [comp.compress(b"BT /F1 12 Tf 72 720 Td (Quarterly report) Tj ET\n")]
    parts += [comp.compress(block) for _ in range(inflated_mib)]
    parts.append(comp.flush())
    stream = b"".join(parts)
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1,
                                                                              xref)
    return bytes(out)


def _multipart(data: bytes, name: str) -> tuple[bytes, str]:
    boundary = "companin-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _chunked(tenant, path: str, body: bytes, content_type: str):  # noqa: ANN001, ANN202
    """POST with Transfer-Encoding: chunked and no Content-Length (what a streaming client
    or a proxy sends): the size is only known by reading. gunicorn marks such a body with
    `wsgi.input_terminated`, as the test client does here."""
    return tenant.client.open(
        path, method="POST", input_stream=io.BytesIO(body),
        environ_overrides={"wsgi.input_terminated": True},
        headers={**tenant.headers, "Transfer-Encoding": "chunked",
                 "Content-Type": content_type})


@pytest.fixture
def small_upload_limit(app):
    old = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    yield 64 * 1024
    app.config["MAX_CONTENT_LENGTH"] = old


def test_over_limit_upload_with_chunked_transfer_encoding_is_413(tenant, small_upload_limit):
    body, ctype = _multipart(b"opening hours are nine to five. " * 10_000, "big.txt")
    assert len(body) > small_upload_limit
    resp = _chunked(tenant, "/api/v1/knowledge/files/", body, ctype)
    assert resp.status_code == 413, resp.get_data()
    assert resp.json["error"]["code"] == "file_too_large"
    assert tenant.get("/api/v1/knowledge/files/").json["items"] == []
    # under the limit the same chunked request is accepted: the 413 is about size
    body, ctype = _multipart(b"opening hours are nine to five.", "small.txt")
    assert _chunked(tenant, "/api/v1/knowledge/files/", body, ctype).status_code == 202


def test_enormous_json_body_without_content_length_is_413(app, tenant):
    big = json.dumps({"name": "n", "instructions": "x" * (app.config["MAX_JSON_BYTES"] + 10)})
    resp = _chunked(tenant, "/api/v1/assistants/", big.encode(), "application/json")
    assert resp.status_code == 413
    assert resp.json["error"]["code"] in {"body_too_large", "file_too_large"}
    assert tenant.get("/api/v1/assistants/").json["items"] == []


JSON_ENDPOINTS = [
    ("POST", "/api/v1/assistants/", "description"),
    ("POST", "/api/v1/knowledge/qas/", "answer"),
    ("POST", "/api/v1/knowledge/search", "query"),
    ("POST", "/api/v1/sessions/", "metadata"),
    ("POST", "/api/v1/contexts", "attributes"),
]


@pytest.mark.parametrize("depth", [50, 900, 5_000, 100_000])
@pytest.mark.parametrize("method,path,field", JSON_ENDPOINTS)
def test_deeply_nested_json_bodies_are_4xx_never_500(tenant, method, path, field, depth):
    nested: object = "leaf"
    for _ in range(min(depth, 900)):
        nested = {"k": nested}
    if depth > 900:  # beyond Python's recursion limit: build the text directly
        raw = f'{{"{field}": ' + '{"k": ' * depth + '"leaf"' + "}" * depth + "}"
    else:
        raw = json.dumps({field: nested})
    resp = tenant._call(method, path, data=raw, headers={"Content-Type": "application/json"})
    assert 400 <= resp.status_code < 500, (path, depth, resp.status_code, resp.get_data()[:300])
    assert resp.json["error"]["code"] in {"invalid_json", "validation_error", "body_too_large",
                                          "not_found"}
    top = "[" * depth + "]" * depth  # the same depth as the whole body, not in a field
    resp = tenant._call(method, path, data=top, headers={"Content-Type": "application/json"})
    assert 400 <= resp.status_code < 500, (path, depth, resp.status_code)


@pytest.mark.parametrize("raw", [
    b'{"name": "caf\xe9"}',  # Latin-1, not UTF-8
    b'{"name": "\xff\xfe"}',
    b'{"name": "ok", "description": "\xed\xa0\x80"}',  # UTF-8-encoded lone surrogate
    b"\xef\xbb\xbf\xff",
])
def test_invalid_utf8_in_json_bodies_is_400_invalid_json(tenant, raw):
    resp = tenant.post("/api/v1/assistants/", data=raw,
                       headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, resp.get_data()
    assert resp.json["error"]["code"] == "invalid_json"
    assert tenant.get("/api/v1/assistants/").json["items"] == []


def test_nul_bytes_in_text_fields_are_422_on_every_kind_of_input(tenant, assistant):
    """PostgreSQL refuses NUL in text and JSONB: it must be a 422 at the door on every
    backend, never a 500 on one of them."""
    session = tenant.post("/api/v1/sessions/", json={"assistant_id": assistant["id"]}).json
    conv = tenant.post("/api/v1/conversations/", json={"session_id": session["id"]}).json
    nul = "a\x00b"
    cases = [
        ("POST", "/api/v1/assistants/", {"name": nul}, "name"),
        ("POST", "/api/v1/assistants/", {"name": "n", "task_models": {"chat": nul}},
         "task_models.chat"),
        ("PATCH", f"/api/v1/assistants/{assistant['id']}", {"instructions": nul},
         "instructions"),
        ("POST", "/api/v1/knowledge/qas/", {"question": "q", "answer": nul}, "answer"),
        ("POST", "/api/v1/knowledge/qas/", {"question": "q", "answer": "a", "tags": [nul]},
         "tags.0"),
        ("POST", "/api/v1/knowledge/urls/", {"url": "http://example.com/", "title": nul},
         "title"),
        ("POST", "/api/v1/knowledge/search", {"query": nul}, "query"),
        ("POST", "/api/v1/sessions/", {"assistant_id": assistant["id"],
                                       "metadata": {"k": nul}}, "metadata.k"),
        ("POST", "/api/v1/sessions/", {"assistant_id": assistant["id"],
                                       "metadata": {nul: 1}}, None),
        ("POST", "/api/v1/sessions/", {"assistant_id": assistant["id"],
                                       "user": {"external_id": nul}}, "user.external_id"),
        ("PATCH", f"/api/v1/sessions/{session['id']}", {"metadata": {"k": [nul]}},
         "metadata.k.0"),
        ("POST", "/api/v1/contexts", {"session_id": session["id"],
                                      "attributes": {"city": nul}}, "attributes.city"),
        ("POST", f"/api/v1/conversations/{conv['id']}/messages", {"content": nul}, "content"),
        ("POST", f"/api/v1/conversations/{conv['id']}/feedback",
         {"rating": 3, "comment": nul, "actor": {"type": "agent"}}, "comment"),
        ("POST", f"/api/v1/conversations/{conv['id']}/feedback",
         {"rating": 3, "actor": {"type": "agent", "team": nul}}, "actor.team"),
    ]
    for method, path, body, field in cases:
        resp = tenant._call(method, path, json=body)
        assert resp.status_code == 422, (path, body, resp.status_code, resp.get_data())
        assert resp.json["error"]["code"] == "validation_error"
        if field:
            assert field in resp.json["error"]["details"]["fields"], (path, resp.json)
    for path in ("/api/v1/sessions/?channel=a%00b", "/api/v1/conversations/?session_id=%00",
                 "/analytics/logs/?path=/api%00", "/api/v1/contexts/?session_id=x%00"):
        resp = tenant.get(path)
        assert resp.status_code == 422, (path, resp.get_data())
    for path in (f"/api/v1/assistants/{assistant['id']}%00", "/api/v1/sessions/%00",
                 "/api/v1/jobs/job_%00x"):
        assert tenant.get(path).status_code == 404, path
    resp = tenant.post("/api/v1/knowledge/files/", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(b"Opening hours: 9-17."), "a\x00.txt"),
                             "title": "x\x00y"})
    assert resp.status_code == 422 and "title" in resp.json["error"]["details"]["fields"]
    resp = upload(tenant, b"Opening hours: nine to five.", "evil\x00name.txt")
    assert resp.status_code == 202 and "\x00" not in resp.json["filename"]
    # nothing half-made: only the session, conversation and the clean upload exist
    assert len(tenant.get("/api/v1/sessions/").json["items"]) == 1
    assert tenant.get("/api/v1/knowledge/qas/").json["items"] == []
    assert tenant.get("/api/v1/contexts/").json["items"] == []


_EXTRACT_BOMB = textwrap.dedent("""
    import json, resource, sys, time
    sys.path.insert(0, sys.argv[1])
    from services.knowledge.extract import extract
    data = open(sys.argv[2], "rb").read()
    import pdfplumber  # noqa: F401 - imports are part of the baseline, not of the bomb
    def status(field):
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith(field + ":"))
    # ru_maxrss survives fork+exec (Linux keeps the parent's high-water mark), so reset
    # the kernel's peak counter first when it allows it, and read both.
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    base = status("VmRSS")  # resident now (KiB), before the bomb
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    try:
        extract(data, "pdf")
        outcome = {"status": "extracted"}
    except Exception as exc:
        outcome = {"status": "refused", "code": getattr(exc, "code", type(exc).__name__),
                   "message": getattr(exc, "message", str(exc))}
    outcome["seconds"] = time.monotonic() - started
    outcome["base_kib"] = base
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # the getrusage peak when it rose during extraction, else the reset kernel peak
    outcome["peak_kib"] = maxrss if maxrss > maxrss_before or not hwm_reset \
        else status("VmHWM")
    print(json.dumps(outcome))
""")


def test_pdf_decompression_bomb_is_refused_with_bounded_memory(tmp_path):
    data = bomb_pdf(inflated_mib=1024)  # ≈1 MB on disk, 1 GiB inflated
    assert len(data) < 2 * MiB
    path = tmp_path / "bomb.pdf"
    path.write_bytes(data)
    proc = subprocess.run([sys.executable, "-c", _EXTRACT_BOMB, str(ROOT), str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    # ru_maxrss is the process's high-water mark: measured against what was resident just
    # before extracting, it bounds what the bomb could make the job process hold.
    grown_mib = (outcome["peak_kib"] - outcome["base_kib"]) / 1024
    print(f"bomb: {outcome['status']} in {outcome['seconds']:.2f}s, "
          f"peak RSS grew {grown_mib:.0f} MiB")
    assert outcome["status"] == "refused" and outcome["code"] == "unreadable_file"
    assert "decompression bomb" in outcome["message"]
    assert grown_mib < 200, outcome  # 64 MiB inflate budget + parser overhead, not 1 GiB
    assert outcome["seconds"] < 30


def test_pdf_bomb_upload_ends_failed_and_the_next_job_runs(tenant, run_jobs):
    resp = upload(tenant, bomb_pdf(inflated_mib=300), "report.pdf")
    assert resp.status_code == 202, resp.json
    run_jobs()
    src = tenant.get(f"/api/v1/knowledge/files/{resp.json['id']}").json
    assert src["status"] == "failed" and "decompression bomb" in src["error"]
    assert src["chunk_count"] == 0
    job = tenant.get(f"/api/v1/jobs/{src['job_id']}").json
    assert job["status"] == "failed" and job["finished_at"]
    ok = ingest(tenant, run_jobs, b"Parking is free for customers on weekends.", "p.txt")
    assert ok["status"] == "ready"


def test_small_compressed_pdf_still_reads(make_pdf):
    """The bomb guard is a budget, not a ban on compression."""
    from services.knowledge.extract import extract

    units = extract(make_pdf(["Refunds take five working days."] * 3), "pdf").units
    assert any("Refunds" in u.text for u in units)


_WORKER_UNDER_RLIMIT = textwrap.dedent("""
    import io, json, os, resource, sys, threading
    sys.path.insert(0, sys.argv[1])
    # Threads started under the limit (the in-memory limiter's expiry timer restarts when
    # it has run out, which depends on timing) must fit in the headroom: small stacks.
    threading.stack_size(256 * 1024)
    from factory import create_app
    from tests.factories import make_tenant
    app = create_app({"TESTING": True, "JOBS_MODE": "sync"})
    tenant = make_tenant(app, "Limited worker")
    def upload(data, name):
        return tenant.post("/api/v1/knowledge/files/", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), name)}).json
    warm = upload(b"Warm-up: the embedding model is loaded before the limit.", "w.txt")
    # Address space: what the warm process maps now, plus a little headroom
    with open("/proc/self/status") as fh:
        vm = next(int(l.split()[1]) for l in fh if l.startswith("VmSize:")) * 1024
    limit = vm + int(sys.argv[3]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    big = upload(open(sys.argv[2], "rb").read(), "big.pdf")
    nxt = upload(b"Lockers are on the second floor next to the lifts.", "n.txt")
    def state(s):
        src = tenant.get(f"/api/v1/knowledge/files/{s['id']}").json
        job = tenant.get(f"/api/v1/jobs/{src['job_id']}").json
        return {"status": src["status"], "error": src["error"], "job": job["status"],
                "job_error": job["error"]}
    print(json.dumps({"warm": state(warm), "big": state(big), "next": state(nxt),
                      "org_id": tenant.org_id}))
""")


def test_worker_under_an_address_space_limit_fails_one_job_cleanly_and_runs_the_next(
        app, tmp_path):
    """RLIMIT_AS set just above the warm worker's footprint: a large (legitimate-looking,
    under-budget) PDF cannot be inflated, the job fails with a reason instead of killing
    the process, and the next job in the same process succeeds."""
    path = tmp_path / "big.pdf"
    path.write_bytes(bomb_pdf(inflated_mib=60, filler=b"% comment line of a big page\n"))
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _WORKER_UNDER_RLIMIT, str(ROOT), str(path),
                           "40"], capture_output=True, text=True, timeout=300, env=env,
                          check=False, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=1))
    assert result["warm"]["status"] == "ready"
    assert result["big"]["status"] == "failed" and result["big"]["job"] == "failed"
    assert result["big"]["error"]  # a reason, e.g. "The file is too large to read."
    assert result["next"]["status"] == "ready" and result["next"]["job"] == "succeeded"
    # the rows the limited process wrote are what the app sees: nothing left processing
    from extensions import db
    from models.jobs import Job
    from models.knowledge import KnowledgeSource

    with app.app_context():
        stuck = db.session.query(KnowledgeSource).filter(
            KnowledgeSource.org_id == result["org_id"],
            KnowledgeSource.status.in_(("queued", "processing"))).count()
        running = db.session.query(Job).filter(Job.org_id == result["org_id"],
                                               Job.status == "running").count()
    assert stuck == 0 and running == 0
