"""Services mode behind nginx (issue 15): the repository's nginx site file, run as is in
front of gunicorn, keeps serving while sixteen clients trickle request bodies, and the
client address comes from the proxy, never from a header the client wrote."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.common import free_port
from tests.factories import make_tenant

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "deploy" / "nginx-companin.conf"

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None,
                                reason="nginx is not installed (make proxy-deps)")


@contextmanager
def _nginx(upstream_port: int) -> Iterator[int]:
    """nginx with deploy/nginx-companin.conf as the site, ports swapped for free ones."""
    port = free_port()
    site = SITE.read_text()
    assert "server 127.0.0.1:8000;" in site and "listen 127.0.0.1:8080;" in site
    site = (site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
            .replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{port};"))
    prefix = Path(tempfile.mkdtemp(prefix="companin-nginx-"))
    (prefix / "companin.conf").write_text(site)
    temp_paths = "\n".join(f"    {kind}_temp_path {prefix / kind};"
                           for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (prefix / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n    access_log off;\n{temp_paths}\n"
        f"    include {prefix}/companin.conf;\n}}\n")
    proc = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                             "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(prefix, ignore_errors=True)


@contextmanager
def _stack() -> Iterator[str]:
    from bench.common import gunicorn

    # Few threads on purpose: without the proxy two trickling clients would hold them all.
    env = {**os.environ, "PROXY_HOPS": "1", "PYTHONPATH": str(REPO)}
    with gunicorn("wsgi:app", env, workers=1, worker_class="gthread", threads=2,
                  ready_path="/healthz") as server, _nginx(server.port) as port:
        yield f"http://127.0.0.1:{port}"


def _get(url: str, key: str, **headers: str) -> int:
    req = urllib.request.Request(url, headers={"X-API-Key": key, **headers})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_sixteen_slow_uploads_do_not_stall_other_requests(app):
    t = make_tenant(app, "Behind nginx")
    with _stack() as base:
        host = base.removeprefix("http://").split(":")
        stop = threading.Event()
        slow: list[socket.socket] = []
        for _ in range(16):
            sock = socket.create_connection((host[0], int(host[1])), timeout=30)
            sock.sendall(
                b"POST /api/v1/knowledge/files/ HTTP/1.1\r\nHost: x\r\n"
                + f"X-API-Key: {t.secret}\r\n".encode()
                + b"Content-Type: multipart/form-data; boundary=zz\r\n"
                b"Content-Length: 100000\r\n\r\n--zz\r\n")
            slow.append(sock)

        def trickle() -> None:
            while not stop.wait(1.0):
                for sock in slow:
                    try:
                        sock.sendall(b"a")
                    except OSError:
                        pass

        feeder = threading.Thread(target=trickle, daemon=True)
        feeder.start()
        try:
            time.sleep(1.5)  # every slow body is open and dripping
            codes = [_get(base + "/api/v1/assistants/", t.secret) for _ in range(10)]
            assert codes == [200] * 10
            assert _get(base + "/healthz", t.secret) == 200
        finally:
            stop.set()
            feeder.join(timeout=5)
            for sock in slow:
                sock.close()


def test_the_client_address_comes_from_the_proxy_not_from_the_client(app):
    from extensions import db
    from models.audit import RequestLog

    t = make_tenant(app, "Forwarded")
    with _stack() as base:
        assert _get(base + "/api/v1/assistants/", t.secret,
                    **{"X-Forwarded-For": "203.0.113.9"}) == 200
        time.sleep(0.2)
    with app.app_context():
        app.extensions["companin_request_log"].flush()
        ips = db.session.execute(select(RequestLog.client_ip)
                                 .where(RequestLog.org_id == t.org_id)).scalars().all()
    assert ips == ["127.0.0.1"]  # what nginx saw; the forged first hop is ignored
