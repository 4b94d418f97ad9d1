"""The console's webhooks page: add a receiver (secret shown once, a reload does not add a
second), see its deliveries, send one again, switch it off, delete it; viewers look only."""
from __future__ import annotations

import re

import pytest


@pytest.fixture
def receiver_url(app, monkeypatch, local_page):
    from services.knowledge.url_guard import parse_networks

    monkeypatch.setitem(app.config, "OUTBOUND_ALLOW_CIDRS", parse_networks("127.0.0.1/32"))
    return local_page.replace("/shipping", "/hook")


@pytest.fixture
def local_page():
    from tests.security.conftest import PAGE  # noqa: F401 - the same kind of local server
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/shipping"
    server.shutdown()
    server.server_close()


def test_add_a_webhook_see_its_deliveries_send_again_and_delete(app, corg, receiver_url,
                                                                run_jobs):
    from services.webhooks import wait_for_deliveries

    owner = corg["owner"]
    page = owner.client.get("/console/webhooks/")
    assert page.status_code == 200 and "No webhooks yet." in page.text
    token = re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)
    form = {"url": receiver_url, "description": "CRM", "form_token": token,
            "events": ["assistant.version_promoted"]}
    created = owner.post("/console/webhooks/", form)
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    secret = re.search(r'data-test="secret"', created.text) and re.search(
        r'value="(whsec_[^"]+)"', created.text).group(1)
    again = owner.post("/console/webhooks/", form)  # the browser re-sends on reload
    assert again.status_code == 302
    hooks = corg.tenant.get("/api/v1/webhooks/").json["items"]
    assert len(hooks) == 1
    hook_id = hooks[0]["id"]
    assert secret not in owner.client.get(f"/console/webhooks/{hook_id}").text

    bot = corg.tenant.post("/api/v1/assistants/", json={"name": "Bot"}).json
    corg.tenant.patch(f"/api/v1/assistants/{bot['id']}", json={"tone": "formal",
                                                               "promote": True})
    run_jobs()
    wait_for_deliveries(app)
    detail = owner.client.get(f"/console/webhooks/{hook_id}").text
    assert "assistant.version_promoted" in detail and "delivered" in detail
    delivery = re.search(r'data-delivery="(whd_[^"]+)"', detail).group(1)
    resent = owner.post(f"/console/webhooks/{hook_id}/deliveries/{delivery}/redeliver")
    assert resent.status_code == 302
    run_jobs()
    wait_for_deliveries(app)
    log = corg.tenant.get(f"/api/v1/webhooks/{hook_id}/deliveries").json["items"]
    assert len(log) == 2 and log[0]["event_id"] == log[1]["event_id"]

    off = owner.post(f"/console/webhooks/{hook_id}", {"url": receiver_url, "description": "",
                                                      "events": ["feedback.created"]})
    assert off.status_code == 302
    shown = corg.tenant.get(f"/api/v1/webhooks/{hook_id}").json
    assert shown["is_active"] is False and shown["events"] == ["feedback.created"]
    assert owner.post(f"/console/webhooks/{hook_id}/delete").status_code == 302
    assert corg.tenant.get(f"/api/v1/webhooks/{hook_id}").status_code == 404


def test_a_private_address_is_refused_with_the_form_kept(app, corg):
    owner = corg["owner"]
    resp = owner.post("/console/webhooks/", {"url": "http://10.1.2.3/hook", "form_token": "x",
                                             "events": ["feedback.created"]})
    assert resp.status_code == 422
    assert "private address" in resp.text and 'value="http://10.1.2.3/hook"' in resp.text
    none = owner.post("/console/webhooks/", {"url": "https://example.invalid/h",
                                             "form_token": "y"})
    assert none.status_code == 422 and "at least one event" in none.text


def test_viewers_see_webhooks_but_no_form(app, corg):
    viewer = corg["viewer"]
    page = viewer.client.get("/console/webhooks/")
    assert page.status_code == 200 and 'id="new-webhook"' not in page.text
