"""Item 5 — keys and secrets. After a realistic run (keys minted by the console, the CLI
and the service; used; refused in the query string; guessed; revoked; rate limited; errors),
the plaintext key appears nowhere: not in any column of any table (request logs, audit,
jobs and their params included), not in the captured logs at DEBUG, not in any response
body or header after creation, not in any file the app wrote. Keys are compared in
constant time (code inspection) and a revoked key stops working at once in every process:
two app instances in one process, and two separate gunicorn processes.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from services.keys import PREFIX_LEN
from tests.console.conftest import make_console_org
from tests.factories import make_key, make_tenant
from tests.source_scan import parse

ROOT = Path(__file__).resolve().parents[2]


def _database_text(app) -> list[tuple[str, str, str]]:  # noqa: ANN001
    """(table, column, text) for every value of every column of every table."""
    from extensions import db

    out = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is not None:
                        out.append((table.name, column, json.dumps(value, default=str)
                                    if isinstance(value, dict | list) else str(value)))
    return out


def _leaks(secret: str, haystack: str) -> bool:
    """The whole key or its private part (everything after the visible prefix)."""
    return secret in haystack or secret[PREFIX_LEN:] in haystack


def test_plaintext_keys_never_stored_logged_or_echoed(app, run_jobs, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []  # every response body and header after each key was shown

    def keep(resp):  # noqa: ANN001, ANN202
        seen.append(resp.get_data(as_text=True))
        seen.append(json.dumps(dict(resp.headers)))
        return resp

    corg = make_console_org(app, "Secrets Inc")
    owner = corg["owner"]
    created = owner.post("/console/keys/", {"name": "widget"})
    import re

    console_secret = re.search(r'value="(cpn_live_[A-Za-z0-9]+)"', created.text).group(1)
    cli = app.test_cli_runner().invoke(args=["key", "create", "--org", corg.org_id,
                                             "--name", "ci"])
    assert cli.exit_code == 0, cli.output
    cli_out = json.loads(cli.output[cli.output.index("{"):])
    cli_secret, cli_key_id = cli_out["api_key"], cli_out["id"]
    service_secret = corg.tenant.secret
    secrets = [console_secret, cli_secret, service_secret]
    client = app.test_client()

    def call(method: str, path: str, secret: str | None = None, **kw):  # noqa: ANN202
        headers = {**({"X-API-Key": secret} if secret else {}), **kw.pop("headers", {})}
        return keep(client.open(path, method=method, headers=headers, **kw))

    for secret in secrets:  # every key works, on reads, writes, uploads and jobs
        assert call("GET", "/api/v1/assistants/", secret).status_code == 200
        asst = call("POST", "/api/v1/assistants/", secret, json={"name": "A"}).json
        assert call("GET", f"/api/v1/assistants/{asst['id']}", secret).status_code == 200
    resp = call("POST", "/api/v1/knowledge/files/", cli_secret,
                content_type="multipart/form-data",
                data={"file": (io.BytesIO(b"Returns are free for 30 days."), "r.txt")})
    assert resp.status_code == 202
    run_jobs()
    # errors of every kind, with a valid key
    assert call("GET", "/api/v1/assistants/asst_missing", console_secret).status_code == 404
    assert call("POST", "/api/v1/assistants/", console_secret, json={}).status_code == 422
    assert call("POST", "/api/v1/assistants/", console_secret, data="{",
                headers={"Content-Type": "application/json"}).status_code in (400, 422)
    assert call("DELETE", "/api/v1/knowledge/search", console_secret).status_code == 405
    # refused: in the query string, guessed, truncated, and revoked keys
    for secret in secrets:
        resp = call("GET", f"/api/v1/assistants/?api_key={secret}")
        assert resp.status_code == 401 and resp.json["error"]["code"] == "api_key_in_query"
        guessed = secret[:-1] + ("A" if secret[-1] != "A" else "B")
        assert call("GET", "/api/v1/assistants/", guessed).status_code == 401
        assert call("GET", "/api/v1/assistants/", secret[:-5]).status_code == 401
    revoked = app.test_cli_runner().invoke(args=["key", "revoke", "--org", corg.org_id,
                                                 cli_key_id])
    assert revoked.exit_code == 0, revoked.output
    resp = call("GET", "/api/v1/assistants/", cli_secret)
    assert resp.status_code == 401 and resp.json["error"]["code"] == "invalid_api_key"
    # rate limited: a 429 writes an audit row
    limited = make_tenant(app, "Tiny", rate_limit=2)
    for _ in range(4):
        last = call("GET", "/api/v1/assistants/", limited.secret)
    assert last.status_code == 429
    secrets.append(limited.secret)

    writer = app.extensions["companin_request_log"]
    writer.flush()
    rows = _database_text(app)
    tables = {t for t, _, _ in rows}
    assert {"api_keys", "request_logs", "rate_limit_events", "jobs"} <= tables
    for secret in secrets:
        stored = [(t, c) for t, c, text in rows if _leaks(secret, text)]
        assert not stored, f"plaintext key stored in {stored}"
        # created keys are visible only by prefix
        assert any(c == "prefix" and text == secret[:PREFIX_LEN] for t, c, text in rows)
        assert not _leaks(secret, caplog.text), "plaintext key in the logs"
        for record in caplog.records:
            assert not _leaks(secret, str(record.args)) and not _leaks(secret, str(record.msg))
        assert not any(_leaks(secret, text) for text in seen), "key echoed in a response"
    files = [p for p in Path(os.environ["INSTANCE_DIR"]).rglob("*") if p.is_file()]
    for path in files:
        data = path.read_bytes()
        assert not any(s.encode() in data for s in secrets), f"plaintext key in {path}"
    # the app's own logs were really captured (jobs, rate limiting: they name keys by id)
    names = {r.name for r in caplog.records}
    assert {"companin.jobs", "companin.ratelimit"} <= names, names


def test_key_verification_is_constant_time_and_by_hash():
    """Code inspection: the stored hash is compared with hmac.compare_digest, keys are
    looked up by their visible prefix, and no `==` ever touches a hash or a secret."""
    tree = parse((ROOT / "services/keys.py").read_text())
    verify = next(n for n in ast.walk(tree)
                  if isinstance(n, ast.FunctionDef) and n.name == "verify_key")
    calls = {ast.unparse(n.func) for n in ast.walk(verify) if isinstance(n, ast.Call)}
    assert "hmac.compare_digest" in calls
    assert "hash_key" in calls  # sha256 of the presented secret
    for node in ast.walk(verify):
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq)
                                                 for op in node.ops):
            text = ast.unparse(node)
            assert "key_hash" not in text and "digest" not in text, text
            assert "secret" not in text or "PREFIX_LEN" in text, text  # prefix lookup only
    for path in list((ROOT / "api").rglob("*.py")) + list((ROOT / "services").rglob("*.py")) \
            + list((ROOT / "console").rglob("*.py")):
        for node in ast.walk(parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq)
                                                     for op in node.ops):
                text = ast.unparse(node)
                assert "key_hash" not in text, f"{path}: {text}"


def test_revoked_key_stops_at_once_in_two_app_instances(app, tenant):
    from factory import create_app
    from services.keys import revoke_key

    other = create_app({"TESTING": True}).test_client()
    assert tenant.get("/api/v1/assistants/").status_code == 200
    assert other.get("/api/v1/assistants/", headers=tenant.headers).status_code == 200
    with app.app_context():
        revoke_key(tenant.org_id, tenant.key_id)
    for client in (tenant.client, other):
        resp = client.get("/api/v1/assistants/", headers=tenant.headers)
        assert resp.status_code == 401 and resp.json["error"]["code"] == "invalid_api_key"


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn_processes(count: int, workers: int = 1):
    """`count` separate gunicorn masters on the test database (env inherited)."""
    procs, urls = [], []
    try:
        for _ in range(count):
            port = _free_port()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind",
                 f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
                cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 90
        for proc, url in zip(procs, urls, strict=True):
            while True:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                try:
                    if httpx.get(url + "/api/v1/openapi.json", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.3)
        yield urls, procs
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_revoked_key_stops_at_once_in_two_server_processes(app):
    tenant = make_tenant(app, "Two processes")
    spare_id, spare = make_key(app, tenant.org_id, name="spare")
    with gunicorn_processes(2) as (urls, _):
        for url in urls:
            resp = httpx.get(url + "/api/v1/assistants/", headers=tenant.headers, timeout=30)
            assert resp.status_code == 200, resp.text
        from services.keys import revoke_key

        with app.app_context():
            revoke_key(tenant.org_id, tenant.key_id)
        for url in urls:  # the very next request, in each process
            resp = httpx.get(url + "/api/v1/assistants/", headers=tenant.headers, timeout=30)
            assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"
            ok = httpx.get(url + "/api/v1/assistants/", headers={"X-API-Key": spare}, timeout=30)
            assert ok.status_code == 200  # the org's other key is untouched
