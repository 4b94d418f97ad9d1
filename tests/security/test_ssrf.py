"""Item 4 — SSRF. tests/knowledge_core/test_url_guard.py covers literal addresses, numeric
forms, redirects to literal addresses, pinning and caps; tests/knowledge/test_urls.py the
API on literal addresses. Added here: every outbound HTTP call in the code base goes through
the guarded client (static scan), and DNS *names* that resolve to private addresses are
refused — at creation, and after a redirect during the fetch job (the resolver is replaced
at the OS boundary, socket.getaddrinfo; nothing of ours is faked).
"""
from __future__ import annotations

import ast
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.source_scan import parse

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {"tests", "bench", "migrations", "node_modules", "instance", ".git", "test-output",
             "__pycache__", ".venv", "venv"}
# Modules that can open a network connection on their own.
NETWORK_MODULES = ("httpx", "httpx2", "requests", "urllib.request", "urllib3", "http.client",
                   "aiohttp", "pycurl", "socket", "ftplib", "smtplib", "telnetlib",
                   "xmlrpc.client", "websocket", "websockets", "anthropic")
ALLOWED = {
    "services/knowledge/url_guard.py": {"httpx", "socket"},  # THE guarded client
    "services/llm.py": {"anthropic"},  # Anthropic SDK, fixed API host from config
}


def _product_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in SKIP_DIRS or any(p in SKIP_DIRS for p in rel.parts):
            continue
        files.append(path)
    return files


def _network_uses(tree: ast.AST) -> set[str]:
    """Network modules a file imports (import/from-import/__import__/importlib)."""
    found: set[str] = set()

    def match(name: str) -> str | None:
        for mod in NETWORK_MODULES:
            if name == mod or name.startswith(mod + "."):
                return mod
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {m for a in node.names if (m := match(a.name))}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if m := match(node.module):
                found.add(m)
            elif node.module in ("urllib", "http", "xmlrpc"):
                found |= {m for a in node.names if (m := match(f"{node.module}.{a.name}"))}
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            fn = ast.unparse(node.func)
            if fn in ("__import__", "importlib.import_module", "import_module") and \
                    isinstance(node.args[0].value, str) and (m := match(node.args[0].value)):
                found.add(m)
    return found


def test_every_outbound_http_call_goes_through_the_guarded_client():
    files = _product_files()
    assert len(files) > 50  # the scan sees the code base
    offenders = {}
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        uses = _network_uses(parse(path.read_text(), filename=rel))
        extra = uses - ALLOWED.get(rel, set())
        if extra:
            offenders[rel] = sorted(extra)
    assert not offenders, f"network access outside the guarded client: {offenders}"
    # and the allowed files do use what they are allowed (the scan is not blind)
    assert "httpx" in _network_uses(parse((ROOT / "services/knowledge/url_guard.py")
                                          .read_text()))


def test_the_scan_catches_the_usual_ways_of_opening_a_connection():
    for snippet in ("import requests", "from urllib.request import urlopen",
                    "import http.client", "from http import client", "import httpx as h",
                    "__import__('urllib3')", "import importlib\nimportlib.import_module('socket')",
                    "from urllib import request"):
        assert _network_uses(parse(snippet)), snippet
    assert not _network_uses(parse("from urllib.parse import urlsplit"))


def test_guarded_client_pins_ignores_proxies_and_never_follows_redirects_itself():
    source = (ROOT / "services/knowledge/url_guard.py").read_text()
    assert "trust_env=False" in source and "follow_redirects=False" in source
    assert "self.check(current)" in source  # every hop is re-checked
    llm = (ROOT / "services/llm.py").read_text()
    assert "base_url" in llm  # the only other client talks to the configured API host


@pytest.fixture
def fake_dns(monkeypatch):
    """Replace the OS resolver for chosen names (the guard calls socket.getaddrinfo)."""
    real = socket.getaddrinfo
    table: dict[str, list[str]] = {}

    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if isinstance(host, str) and host.lower().rstrip(".") in table:
            out = []
            for ip in table[host.lower().rstrip(".")]:
                fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
                sockaddr = (ip, port or 80, 0, 0) if fam == socket.AF_INET6 else (ip, port or 80)
                out.append((fam, socket.SOCK_STREAM, 6, "", sockaddr))
            return out
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.1", "172.16.5.4", "169.254.169.254",
                                     "127.0.0.2", "100.64.0.1", "fd00::1", "::ffff:10.0.0.1",
                                     "fe80::1"])
def test_a_dns_name_resolving_to_a_private_address_is_refused(tenant, fake_dns, address):
    fake_dns["intranet.example.com"] = [address]
    resp = tenant.post("/api/v1/knowledge/urls/", json={"url": "http://intranet.example.com/x"})
    assert resp.status_code == 422, resp.json
    assert resp.json["error"]["code"] == "url_not_allowed"
    assert address.split(":")[-1] in resp.json["error"]["message"] or "resolves to" in \
        resp.json["error"]["message"]
    assert tenant.get("/api/v1/knowledge/urls/").json["items"] == []


def test_a_name_with_one_private_address_among_public_ones_is_refused(tenant, fake_dns):
    fake_dns["mixed.example.com"] = ["93.184.216.34", "10.1.2.3"]
    resp = tenant.post("/api/v1/knowledge/urls/", json={"url": "https://mixed.example.com/"})
    assert resp.status_code == 422 and resp.json["error"]["code"] == "url_not_allowed"


@pytest.fixture
def redirector():
    """A page (on 127.0.0.1, which the test config allows) that redirects to a name."""
    state = {"target": "", "hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            state["hits"] += 1
            self.send_response(302)
            self.send_header("Location", state["target"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/moved"
    yield state
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("target,resolves_to", [
    ("http://internal-api.example.com/admin", "10.20.30.40"),
    ("http://rebind.example.com/", "169.254.169.254"),
    ("http://v6.example.com/", "fc00::7"),
    ("http://metadata.google.internal/computeMetadata/v1/", None),
])
def test_a_redirect_to_a_name_resolving_privately_fails_the_source(
        tenant, run_jobs, fake_dns, redirector, target, resolves_to):
    from urllib.parse import urlsplit

    if resolves_to:
        fake_dns[urlsplit(target).hostname] = [resolves_to]
    redirector["target"] = target
    resp = tenant.post("/api/v1/knowledge/urls/", json={"url": redirector["url"]})
    assert resp.status_code == 202, resp.json
    run_jobs()
    src = tenant.get(f"/api/v1/knowledge/urls/{resp.json['id']}").json
    assert redirector["hits"] == 1  # the first hop was fetched, the second never was
    assert src["status"] == "failed", src
    assert "not allowed" in src["error"], src["error"]
    assert src["chunk_count"] == 0
