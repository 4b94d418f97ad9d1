"""Signed webhooks (SPEC §12 item 3) against a real receiver on 127.0.0.1: the signature
checks out with the secret shown once, a 500 is retried with the same event id, private
and metadata addresses are refused, a receiver that hangs does not hold the call that
caused the event, and every event type reaches a subscribed endpoint."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conversations.conftest import open_session, start_conversation
from tests.factories import make_tenant
from tests.knowledge.helpers import upload


class Receiver:
    """A webhook receiver: records each request; answers the queued statuses (then 200);
    `hold` makes it wait until released."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.hold = threading.Event()
        self.hold.set()
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                receiver.arrived.set()
                receiver.hold.wait(20)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/companin"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(app, monkeypatch):
    """A receiver, and the operator's setting that lets the platform reach it."""
    from services.knowledge.url_guard import parse_networks

    monkeypatch.setitem(app.config, "OUTBOUND_ALLOW_CIDRS", parse_networks("127.0.0.1/32"))
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def deliver(app, run_jobs):
    """Send what is due: the RQ worker in services mode, the in-process pump otherwise."""
    from services.webhooks import wait_for_deliveries

    def _deliver() -> None:
        run_jobs()
        if app.config["JOBS_MODE"] == "rq":
            run_jobs()  # a retry is enqueued by the attempt before it
        wait_for_deliveries(app)

    return _deliver


def verify(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does with Companin-Signature (Stripe's scheme)."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def _conversation(tenant) -> tuple[str, str]:  # noqa: ANN001
    bot = tenant.post("/api/v1/assistants/", json={"name": "Bot"}).json
    conv = start_conversation(tenant, open_session(tenant, bot["id"])["id"])
    return bot["id"], conv["id"]


def test_feedback_created_reaches_the_receiver_signed(app, tenant, receiver, deliver):
    made = tenant.post("/api/v1/webhooks/", json={"url": receiver.url,
                                                  "events": ["feedback.created"],
                                                  "description": "CRM"})
    assert made.status_code == 201, made.json
    secret = made.json["secret"]
    assert secret.startswith("whsec_")
    shown = tenant.get(f"/api/v1/webhooks/{made.json['id']}").json
    assert "secret" not in shown and shown["events"] == ["feedback.created"]

    _bot, conv = _conversation(tenant)
    fb = tenant.post(f"/api/v1/conversations/{conv}/feedback",
                     json={"rating": 2, "comment": "Slow", "actor": {"type": "customer"}})
    assert fb.status_code == 201
    deliver()

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert verify(secret, request["headers"]["Companin-Signature"], request["body"])
    assert not verify("whsec_wrong", request["headers"]["Companin-Signature"], request["body"])
    event = json.loads(request["body"])
    assert event["type"] == "feedback.created" and event["id"].startswith("evt_")
    assert event["organization_id"] == tenant.org_id
    assert event["data"]["id"] == fb.json["id"] and event["data"]["rating"] == 2
    assert request["headers"]["Companin-Event-Id"] == event["id"]

    log = tenant.get(f"/api/v1/webhooks/{made.json['id']}/deliveries").json["items"]
    assert [(d["status"], d["attempts"], d["response_status"]) for d in log] == [
        ("succeeded", 1, 200)]
    assert log[0]["event_id"] == event["id"] and log[0]["latency_ms"] is not None


def test_a_500_is_retried_with_the_same_event_id_and_can_be_redelivered(
        app, tenant, receiver, deliver):
    hook = tenant.post("/api/v1/webhooks/", json={"url": receiver.url,
                                                  "events": ["feedback.created"]}).json
    receiver.statuses = [500]
    _bot, conv = _conversation(tenant)
    tenant.post(f"/api/v1/conversations/{conv}/feedback",
                json={"rating": 5, "actor": {"type": "customer"}})
    deliver()
    ids = [e["id"] for e in receiver.events()]
    assert len(ids) == 2 and ids[0] == ids[1]
    log = tenant.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["items"]
    assert [(d["status"], d["attempts"], d["response_status"]) for d in log] == [
        ("succeeded", 2, 200)]

    again = tenant.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{log[0]['id']}/redeliver")
    assert again.status_code == 202, again.json
    assert again.json["event_id"] == ids[0] and again.json["id"] != log[0]["id"]
    deliver()
    assert [e["id"] for e in receiver.events()] == ids + [ids[0]]


def test_a_receiver_that_keeps_failing_is_given_up_after_the_retries(
        app, tenant, receiver, deliver, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SECONDS", [0, 0])
    hook = tenant.post("/api/v1/webhooks/", json={"url": receiver.url,
                                                  "events": ["feedback.created"]}).json
    receiver.statuses = [503, 503, 503, 503]
    _bot, conv = _conversation(tenant)
    tenant.post(f"/api/v1/conversations/{conv}/feedback",
                json={"rating": 1, "actor": {"type": "customer"}})
    deliver()
    deliver()
    log = tenant.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["items"]
    assert [(d["status"], d["attempts"]) for d in log] == [("failed", 3)]
    assert "503" in log[0]["error"] and len(receiver.requests) == 3


def test_a_hanging_receiver_does_not_hold_the_call_that_caused_the_event(
        app, tenant, receiver, run_jobs):
    from services.webhooks import wait_for_deliveries

    hook = tenant.post("/api/v1/webhooks/", json={"url": receiver.url,
                                                  "events": ["feedback.created"]}).json
    _bot, conv = _conversation(tenant)
    receiver.hold.clear()  # the receiver takes the request and does not answer
    fb = tenant.post(f"/api/v1/conversations/{conv}/feedback",
                     json={"rating": 4, "actor": {"type": "customer"}})
    assert fb.status_code == 201  # answered although no delivery has finished
    pending = tenant.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["items"][0]

    def rq_worker() -> None:  # what the RQ job runs (a worker cannot run off the main thread)
        from jobs.webhook_tasks import deliver_webhook

        with app.app_context():
            deliver_webhook(pending["id"])

    worker = threading.Thread(target=rq_worker if app.config["JOBS_MODE"] == "rq" else None)
    worker.start()  # embedded: the pump is already sending it
    assert receiver.arrived.wait(10)
    log = tenant.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["items"]
    assert log[0]["status"] == "sending"  # in flight while the API answered
    assert tenant.get("/api/v1/assistants/").status_code == 200
    receiver.hold.set()
    worker.join(30)
    run_jobs()  # services mode: the queued job finds the delivery done and does nothing
    wait_for_deliveries(app)
    log = tenant.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["items"]
    assert log[0]["status"] == "succeeded"


@pytest.mark.parametrize("url", [
    "http://10.0.0.7/hook", "http://192.168.1.20:8080/hook", "http://127.0.0.1:9/hook",
    "http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/",
    "ftp://example.com/hook",
])
def test_private_loopback_and_metadata_addresses_are_refused(app, tenant, url):
    resp = tenant.post("/api/v1/webhooks/", json={"url": url, "events": ["source.ready"]})
    assert resp.status_code == 422, resp.json
    assert resp.json["error"]["code"] == "validation_error"
    assert "url" in resp.json["error"]["details"]["fields"]
    assert tenant.get("/api/v1/webhooks/").json["items"] == []


def test_metadata_stays_refused_whatever_the_allowed_networks_say(app, tenant, monkeypatch):
    from services.knowledge.url_guard import parse_networks

    monkeypatch.setitem(app.config, "OUTBOUND_ALLOW_CIDRS",
                        parse_networks("169.254.0.0/16, 10.0.0.0/8"))
    refused = tenant.post("/api/v1/webhooks/", json={
        "url": "http://169.254.169.254/latest/", "events": ["source.ready"]})
    assert refused.status_code == 422
    allowed = tenant.post("/api/v1/webhooks/", json={
        "url": "http://10.20.30.40:8443/crm", "events": ["source.ready"]})
    assert allowed.status_code == 201, allowed.json  # a named on-premise network


def test_every_event_type_reaches_a_subscribed_endpoint(app, receiver, deliver, run_jobs):
    tenant = make_tenant(app, "Events", rate_limit=12)
    hook = tenant.post("/api/v1/webhooks/", json={
        "url": receiver.url, "events": ["source.ready", "source.failed",
                                        "assistant.version_promoted", "evaluation.finished",
                                        "rate_limit.exceeded"]}).json
    assert upload(tenant, b"Returns are free within 30 days.", "returns.txt").status_code == 202
    assert upload(tenant, b"%PDF-1.4\n not a pdf \n%%EOF", "broken.pdf").status_code == 202
    run_jobs()
    bot = tenant.post("/api/v1/assistants/", json={"name": "Bot"}).json
    tenant.patch(f"/api/v1/assistants/{bot['id']}", json={"tone": "formal", "promote": True})
    tenant.post(f"/api/v1/assistants/{bot['id']}/tests",
                json={"question": "Returns?", "expect_contains": "30 days"})
    assert tenant.post(f"/api/v1/assistants/{bot['id']}/versions/2/evaluations"
                       ).status_code == 202
    run_jobs()
    while tenant.get("/api/v1/assistants/").status_code != 429:
        pass
    tenant.get("/api/v1/assistants/")  # a second refusal in the same minute: no second event
    deliver()
    by_type = {}
    for event in receiver.events():
        by_type.setdefault(event["type"], []).append(event)
    assert sorted(by_type) == ["assistant.version_promoted", "evaluation.finished",
                               "rate_limit.exceeded", "source.failed", "source.ready"]
    assert by_type["source.ready"][0]["data"]["title"] == "returns.txt"
    assert by_type["source.failed"][0]["data"]["error"]
    promoted = by_type["assistant.version_promoted"][0]["data"]
    assert (promoted["assistant_id"], promoted["version"], promoted["previous_version"]) == (
        bot["id"], 2, 1)
    assert by_type["evaluation.finished"][0]["data"]["total"] == 1
    assert len(by_type["rate_limit.exceeded"]) == 1
    assert "feedback.created" not in by_type  # not subscribed
    assert hook["id"]


def test_webhooks_are_listed_updated_switched_off_and_deleted(app, tenant, receiver, deliver):
    hook = tenant.post("/api/v1/webhooks/", json={"url": receiver.url,
                                                  "events": ["feedback.created"]}).json
    listed = tenant.get("/api/v1/webhooks/").json["items"]
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    changed = tenant.patch(f"/api/v1/webhooks/{hook['id']}",
                           json={"is_active": False, "description": "paused for maintenance"})
    assert changed.status_code == 200 and changed.json["is_active"] is False
    bad = tenant.patch(f"/api/v1/webhooks/{hook['id']}", json={"events": ["order.paid"]})
    assert bad.status_code == 422
    _bot, conv = _conversation(tenant)
    tenant.post(f"/api/v1/conversations/{conv}/feedback",
                json={"rating": 3, "actor": {"type": "customer"}})
    deliver()
    assert receiver.requests == []  # switched off: nothing queued, nothing sent
    assert tenant.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
    assert tenant.get(f"/api/v1/webhooks/{hook['id']}").status_code == 404


def test_the_address_is_checked_again_at_delivery_time(app, tenant, receiver, deliver,
                                                       monkeypatch):
    """A receiver allowed when registered and refused later (the operator narrowed the
    allowed networks, or its name now resolves to a private address) gets nothing."""
    hook = tenant.post("/api/v1/webhooks/", json={"url": receiver.url,
                                                  "events": ["feedback.created"]}).json
    monkeypatch.setitem(app.config, "OUTBOUND_ALLOW_CIDRS", ())
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SECONDS", [])
    _bot, conv = _conversation(tenant)
    tenant.post(f"/api/v1/conversations/{conv}/feedback",
                json={"rating": 2, "actor": {"type": "customer"}})
    deliver()
    log = tenant.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["items"]
    assert [(d["status"], d["response_status"]) for d in log] == [("failed", None)]
    assert "not allowed" in log[0]["error"] and receiver.requests == []
