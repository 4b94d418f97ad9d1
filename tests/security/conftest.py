"""Fixtures of the security/reliability suite: one organization with a real row of every
kind (`world`), a local web page for URL sources and a canary phrase planted in org A."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conversations.conftest import open_session, start_conversation
from tests.knowledge.helpers import ingest

CANARY = "zanzibar-otter-quokka"
CANARY_FILE = (f"Internal memo {CANARY}: the vault combination for the Lisbon office is "
               "kept by the night porter.").encode()
CANARY_QA = {"question": f"What is the {CANARY} escalation code?",
             "answer": f"The {CANARY} escalation code is seven-seven-alpha."}
PAGE = (f"<html><head><title>Shipping</title></head><body><article><h1>Shipping</h1>"
        f"<p>Parcels to Madeira travel by ferry {CANARY} every Tuesday morning.</p>"
        "</article></body></html>").encode()


@dataclass
class World:
    """Org A's real ids, one of each kind a route can take, plus everything it owns."""

    ids: dict[str, str]
    version_number: int
    secret_texts: list[str] = field(default_factory=list)

    def all_ids(self) -> set[str]:
        return set(self.ids.values())


@pytest.fixture
def local_page():
    """A real HTTP server on 127.0.0.1 (tests allow loopback fetches) serving one page."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args):  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/shipping"
    server.shutdown()
    server.server_close()


@pytest.fixture
def world(app, tenant, run_jobs, local_page, monkeypatch) -> World:
    """Org A (`tenant`) with one real object of every kind, the canary in its knowledge."""
    from services.knowledge.url_guard import parse_networks
    from tests.conversations.conftest import exchange

    # The operator's setting that lets webhooks reach the local server (it answers GET
    # only, so deliveries fail: a delivery log is all the matrix needs).
    monkeypatch.setitem(app.config, "OUTBOUND_ALLOW_CIDRS", parse_networks("127.0.0.1/32"))
    hook = tenant.post("/api/v1/webhooks/", json={"url": local_page.replace("/shipping", "/hook"),
                                                  "events": ["feedback.created"]})
    assert hook.status_code == 201, hook.json

    asst = tenant.post("/api/v1/assistants/", json={"name": "Vault", "language": "en"}).json
    v2 = tenant.patch(f"/api/v1/assistants/{asst['id']}", json={"tone": "formal"})
    assert v2.status_code == 200, v2.json
    kf = ingest(tenant, run_jobs, CANARY_FILE, "memo.txt")
    assert kf["status"] == "ready", kf
    kq = tenant.post("/api/v1/knowledge/qas/", json=CANARY_QA)
    assert kq.status_code == 201, kq.json
    ku = tenant.post("/api/v1/knowledge/urls/", json={"url": local_page})
    assert ku.status_code == 202, ku.json
    run_jobs()
    ku_ready = tenant.get(f"/api/v1/knowledge/urls/{ku.json['id']}").json
    assert ku_ready["status"] == "ready", ku_ready
    sess = open_session(tenant, asst["id"], channel="web", user={"external_id": "cust-A-1"})
    ctx = tenant.post("/api/v1/contexts", json={"session_id": sess["id"],
                                                "attributes": {"tier": "gold"}})
    assert ctx.status_code == 201, ctx.json
    conv = start_conversation(tenant, sess["id"])
    question_id, reply_id = exchange(app, tenant.org_id, conv["id"], f"Tell me about {CANARY}")
    fb = tenant.post(f"/api/v1/conversations/{conv['id']}/feedback",
                     json={"rating": 5, "message_id": reply_id, "actor": {"type": "agent"}})
    assert fb.status_code == 201, fb.json
    run_jobs()
    deliveries = tenant.get(f"/api/v1/webhooks/{hook.json['id']}/deliveries").json["items"]
    assert deliveries, "the feedback made a delivery"
    tc = tenant.post(f"/api/v1/assistants/{asst['id']}/tests",
                     json={"question": f"What is {CANARY}?", "expect_source_ids": [kf["id"]]})
    assert tc.status_code == 201, tc.json
    ev = tenant.post(f"/api/v1/assistants/{asst['id']}/versions/2/evaluations")
    assert ev.status_code == 202, ev.json
    run_jobs()
    ids = {
        "org": tenant.org_id, "key": tenant.key_id, "assistant_id": asst["id"],
        "file_id": kf["id"], "qa_id": kq.json["id"], "url_id": ku.json["id"],
        "job_id": kf["job_id"], "url_job_id": ku_ready["job_id"], "session_id": sess["id"],
        "context_id": ctx.json["id"], "conversation_id": conv["id"],
        "message_id": question_id, "reply_id": reply_id, "feedback_id": fb.json["id"],
        "external_id": "cust-A-1", "test_id": tc.json["id"], "evaluation_id": ev.json["id"],
        "key_id": tenant.key_id, "webhook_id": hook.json["id"],
        "delivery_id": deliveries[0]["id"],
    }
    return World(ids=ids, version_number=2,
                 secret_texts=[CANARY, "cust-A-1", hook.json["secret"]])
