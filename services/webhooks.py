"""Signed webhooks (SPEC §12): endpoints, events, deliveries with retries.

An event writes one delivery row per subscribed endpoint in the transaction that caused
it (the outbox); only after that transaction commits is each delivery handed on: to an RQ
job in services mode, to this process's delivery pump otherwise. An attempt runs outside
any request, through the same SSRF guard as URL ingestion, with its own time limit, so a
slow or failing receiver never slows the call that caused the event. A failed attempt is
retried after WEBHOOK_RETRY_SECONDS (exponential by default), then marked failed; an
operator can redeliver any delivery (same event id and body: receivers drop duplicates).

Signature, Stripe-style: `Companin-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
"<t>.<raw body>")>`.
"""
from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event, inspect, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from errors import AppError, NotFound, ValidationFailed
from extensions import db
from models.ids import new_id
from models.knowledge import KnowledgeSource
from models.types import isoformat, utcnow
from models.webhooks import EVENT_TYPES, WebhookDelivery, WebhookEndpoint
from services import audit_trail
from services.jobs import queue_for
from services.knowledge.url_guard import GuardedFetcher, check_url
from services.pagination import Page, paginate

log = logging.getLogger("companin.webhooks")
SIGNATURE_HEADER = "Companin-Signature"
USER_AGENT = "Companin-Webhooks/1.0"
_PENDING = "companin_webhook_pending"  # session.info: deliveries to hand on after commit
_EVENTS = "companin_webhook_events"  # session.info: source events to emit before commit
_DUE = ("pending", "retrying")
SENDING_STALE_SECONDS = 120  # a "sending" row older than this lost its process


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The Companin-Signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                      hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# ------------------------------------------------------------------------- endpoints
def _check(url: str | None, events: list[str] | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if url is not None:
        try:
            check_url(url, allow_networks=current_app.config["OUTBOUND_ALLOW_CIDRS"])
        except AppError as exc:
            errors["url"] = [exc.message]
    if events is not None:
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if unknown:
            errors["events"] = [f"Unknown event type(s): {', '.join(unknown)}; choose from "
                                f"{', '.join(EVENT_TYPES)}."]
        elif not events:
            errors["events"] = ["Choose at least one event type."]
    return errors


def create_endpoint(org_id: str, *, url: str, events: list[str],
                    description: str = "") -> tuple[WebhookEndpoint, str]:
    """The endpoint and its signing secret (shown to the caller once)."""
    errors = _check(url, events)
    if errors:
        raise ValidationFailed(errors)
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(org_id=org_id, url=url.strip(), events=list(dict.fromkeys(events)),
                               description=(description or "").strip()[:300], secret=secret)
    db.session.add(endpoint)
    db.session.commit()
    return endpoint, secret


def endpoints_query(org_id: str) -> Any:
    return WebhookEndpoint.query_for_org(org_id)


def list_endpoints(org_id: str, *, limit: int | None = None, cursor: str | None = None) -> Page:
    return paginate(endpoints_query(org_id), WebhookEndpoint, limit=limit, cursor=cursor)


def get_endpoint(org_id: str, endpoint_id: str) -> WebhookEndpoint:
    return WebhookEndpoint.get_for_org(endpoint_id, org_id)


def update_endpoint(org_id: str, endpoint_id: str, changes: dict[str, Any]) -> WebhookEndpoint:
    endpoint = get_endpoint(org_id, endpoint_id)
    errors = _check(changes.get("url"), changes.get("events"))
    if errors:
        raise ValidationFailed(errors)
    if changes.get("url") is not None:
        endpoint.url = changes["url"].strip()
    if changes.get("events") is not None:
        endpoint.events = list(dict.fromkeys(changes["events"]))
    if changes.get("description") is not None:
        endpoint.description = changes["description"].strip()[:300]
    if changes.get("is_active") is not None:
        endpoint.is_active = bool(changes["is_active"])
    db.session.commit()
    return endpoint


def delete_endpoint(org_id: str, endpoint_id: str) -> None:
    """The endpoint and its delivery log; nothing more is sent to it."""
    endpoint = get_endpoint(org_id, endpoint_id)
    db.session.execute(WebhookDelivery.__table__.delete().where(
        WebhookDelivery.endpoint_id == endpoint.id))
    db.session.delete(endpoint)
    db.session.commit()


def list_deliveries(org_id: str, endpoint_id: str, *, limit: int | None = None,
                    cursor: str | None = None) -> Page:
    endpoint = get_endpoint(org_id, endpoint_id)
    stmt = WebhookDelivery.query_for_org(org_id).where(
        WebhookDelivery.endpoint_id == endpoint.id)
    return paginate(stmt, WebhookDelivery, limit=limit, cursor=cursor)


def redeliver(org_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery with the same event id and body."""
    endpoint = get_endpoint(org_id, endpoint_id)
    old = WebhookDelivery.get_for_org(delivery_id, org_id)
    if old.endpoint_id != endpoint.id:
        raise NotFound(WebhookDelivery.not_found_message)
    again = _delivery(org_id, endpoint.id, old.event_id, old.event_type, old.body)
    audit_trail.record(org_id, "webhook.redelivered", "webhook", endpoint.id,
                       {"delivery_id": [old.id, again.id], "event_id": [None, old.event_id]})
    db.session.commit()
    return again


# ---------------------------------------------------------------------------- events
def _delivery(org_id: str, endpoint_id: str, event_id: str, event_type: str,
              body: str) -> WebhookDelivery:
    row = WebhookDelivery(id=new_id("whd"), org_id=org_id, endpoint_id=endpoint_id,
                          event_id=event_id, event_type=event_type, body=body,
                          status="pending", next_attempt_at=utcnow())
    db.session.add(row)
    db.session.info.setdefault(_PENDING, []).append((row.id, org_id))
    return row


def _active_endpoints(org_id: str) -> list[WebhookEndpoint]:
    with db.session.no_autoflush:  # the caller's pending changes flush as they would have
        return list(db.session.execute(
            endpoints_query(org_id).where(WebhookEndpoint.is_active.is_(True))).scalars())


def emit(org_id: str | None, event_type: str, data: dict[str, Any],
         active: list[WebhookEndpoint] | None = None) -> None:
    """Queue `event_type` for every active endpoint of the organization subscribed to it
    (`active`: those endpoints, when the caller already has them); joins the caller's
    transaction and is sent only if that commits."""
    if org_id is None:
        return
    assert event_type in EVENT_TYPES, event_type
    endpoints = [e for e in (active if active is not None else _active_endpoints(org_id))
                 if event_type in (e.events or ())]
    if not endpoints:
        return
    event_id = new_id("evt")
    body = json.dumps({"id": event_id, "type": event_type, "created_at": isoformat(utcnow()),
                       "organization_id": org_id, "data": data},
                      ensure_ascii=False, separators=(",", ":"), default=str)
    for endpoint in endpoints:
        _delivery(org_id, endpoint.id, event_id, event_type, body)


def _source_events(session: Session, _flush_context: Any) -> None:
    """A source that became ready or failed (in whichever job or sweep did it) is an
    event; collected at flush, emitted just before the commit."""
    for row in session.dirty:
        if not isinstance(row, KnowledgeSource):
            continue
        hist = inspect(row).attrs.status.history
        if hist.added and hist.added[0] in ("ready", "failed") and hist.added != hist.deleted:
            session.info.setdefault(_EVENTS, []).append((row.org_id, f"source.{row.status}", {
                "id": row.id, "kind": row.kind, "title": row.title, "status": row.status,
                "error": row.error, "chunk_count": row.chunk_count}))


def _emit_collected(session: Session) -> None:
    if not session.info.get(_EVENTS):
        return
    session.flush()  # changes made since the last flush may add events too
    active: dict[str, list[WebhookEndpoint]] = {}  # one query per organization, not per
    for org_id, event_type, data in session.info.pop(_EVENTS, []):  # source of a batch
        if org_id not in active:
            active[org_id] = _active_endpoints(org_id)
        emit(org_id, event_type, data, active[org_id])


def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    try:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    except RuntimeError:
        return  # no application: the sweep sends them
    for delivery_id, org_id in pending:
        dispatch(app, delivery_id, org_id)


def install(app: Flask) -> None:
    """Hand deliveries on after each commit (idempotent); embedded mode's pump starts on
    first use."""
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_flush", _source_events)
        event.listen(Session, "before_commit", _emit_collected)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_soft_rollback)
    app.before_request(_resume_once)


def _after_soft_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_EVENTS, None)


def _resume_once() -> None:
    """Embedded mode: the first request of a process starts the pump if deliveries are
    due (left by the last process, or retries coming due). Services mode: every sweep
    interval, hand RQ what is due and was never handed on."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    embedded = app.config["JOBS_MODE"] != "rq"
    state = app.extensions.setdefault("companin_webhook_sweep", {"at": None})
    now = time.monotonic()
    if state["at"] is not None and (
            embedded or now - state["at"] < app.config["JOB_SWEEP_INTERVAL_SECONDS"]):
        return
    state["at"] = now
    try:
        if embedded and not _anything_pending():
            return
        sweep(app)
    except SQLAlchemyError:  # opportunistic: never in the way of a request (/healthz)
        db.session.rollback()
        log.warning("webhook sweep skipped: the database is unavailable")
        return
    if embedded:
        _pump(app, wake=True)


def _anything_pending() -> bool:
    """Any delivery not finished: due, waiting for a retry, or being sent."""
    return db.session.execute(select(WebhookDelivery.id).where(
        WebhookDelivery.status.in_(_DUE + ("sending",))).limit(1)).first() is not None


# -------------------------------------------------------------------------- delivery
def dispatch(app: Flask, delivery_id: str, org_id: str, delay: float = 0) -> None:
    """Hand one delivery to whatever sends it in this mode; a lost hand-off is found by
    the sweep (the row stays due)."""
    if app.config["JOBS_MODE"] != "rq":
        _pump(app, wake=True)
        return
    from redis.exceptions import RedisError

    try:
        queue = queue_for(app, org_id)
        if delay > 0:
            queue.enqueue_in(timedelta(seconds=delay), "jobs.webhook_tasks.deliver_webhook",
                             delivery_id)
        else:
            queue.enqueue("jobs.webhook_tasks.deliver_webhook", delivery_id)
    except RedisError:
        log.exception("webhook delivery %s not handed to RQ; the sweep will", delivery_id)


def claim(delivery_id: str) -> bool:
    """Take a due delivery for one attempt; False when another process has it or it is
    not due (a duplicate hand-off is harmless)."""
    done = db.session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                      WebhookDelivery.status.in_(_DUE))
        .values(status="sending", updated_at=utcnow()))
    db.session.commit()
    return done.rowcount == 1


def attempt(delivery_id: str) -> float | None:
    """One attempt at a claimed delivery; returns the wait before the next one, or None
    when it is finished (delivered or out of retries)."""
    cfg = current_app.config
    row = db.session.get(WebhookDelivery, delivery_id)
    if row is None:
        return None
    endpoint = db.session.get(WebhookEndpoint, row.endpoint_id)
    started = time.perf_counter()
    status: int | None = None
    if endpoint is None or not endpoint.is_active:
        error: str | None = "The endpoint was disabled."
    else:
        stamp = int(time.time())
        body = row.body.encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   SIGNATURE_HEADER: sign(endpoint.secret, stamp, body),
                   "Companin-Event-Id": row.event_id, "Companin-Event-Type": row.event_type}
        fetcher = GuardedFetcher(timeout=cfg["WEBHOOK_TIMEOUT_SECONDS"],
                                 allow_networks=cfg["OUTBOUND_ALLOW_CIDRS"])
        try:
            status = fetcher.post(endpoint.url, body, headers)
            error = None if 200 <= status < 300 else f"The receiver answered HTTP {status}."
        except AppError as exc:
            error = exc.message
    row.attempts += 1
    row.latency_ms = round((time.perf_counter() - started) * 1000, 2)
    row.response_status, row.error = status, (error or None) and error[:500]
    retries = cfg["WEBHOOK_RETRY_SECONDS"]
    wait: float | None = None
    if error is None:
        row.status, row.delivered_at, row.next_attempt_at = "succeeded", utcnow(), None
    elif endpoint is not None and endpoint.is_active and row.attempts <= len(retries):
        wait = float(retries[row.attempts - 1])
        row.status, row.next_attempt_at = "retrying", utcnow() + timedelta(seconds=wait)
    else:
        row.status, row.next_attempt_at = "failed", None
    db.session.commit()
    return wait


def sweep(app: Flask) -> int:
    """Hand on deliveries that are due but were never handed on (a crash between commit and
    hand-off, a retry whose scheduler died) and free attempts whose process died."""
    now = utcnow()
    db.session.execute(
        update(WebhookDelivery).where(
            WebhookDelivery.status == "sending",
            WebhookDelivery.updated_at < now - timedelta(seconds=SENDING_STALE_SECONDS))
        .values(status="retrying", next_attempt_at=now))
    db.session.commit()
    grace = timedelta(seconds=30 if app.config["JOBS_MODE"] == "rq" else 0)
    due = db.session.execute(
        select(WebhookDelivery.id, WebhookDelivery.org_id).where(
            WebhookDelivery.status.in_(_DUE),
            or_(WebhookDelivery.next_attempt_at.is_(None),
                WebhookDelivery.next_attempt_at <= now - grace))
        .order_by(WebhookDelivery.next_attempt_at).limit(200)).all()
    if app.config["JOBS_MODE"] == "rq":
        for delivery_id, org_id in due:
            dispatch(app, delivery_id, org_id)
    return len(due)


# -------------------------------------------------- embedded mode: the delivery pump
class _Pump:
    """A daemon thread that sends this process's due deliveries on a small pool; it wakes
    at each commit that queued one, and every second for retries coming due."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.wakeup = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhook")
        self.in_flight: set[str] = set()
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True, name="webhook-pump")
        self.thread.start()

    def _run(self) -> None:
        quiet = 0  # passes in a row with nothing pending at all
        while not _stopping.is_set():
            if quiet >= IDLE_PASSES:
                with _pumps_lock:  # a wake-up comes under the same lock: none is lost
                    if not self.wakeup.is_set():
                        self.stopped = True
                        return
            self.wakeup.wait(1.0)
            self.wakeup.clear()
            if _stopping.is_set():
                return
            try:
                with self.app.app_context():
                    quiet = 0 if self._send_due() or not self.idle() else quiet + 1
            except Exception:  # noqa: BLE001 - the pump must outlive a bad pass
                if not _stopping.is_set():
                    log.exception("webhook pump pass failed")

    def _send_due(self) -> bool:
        """Send what is due; True while anything is still pending (a retry coming due)."""
        now = utcnow()
        due = db.session.execute(
            select(WebhookDelivery.id).where(WebhookDelivery.status.in_(_DUE),
                                             WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at).limit(50)).scalars().all()
        waiting = bool(due) or _anything_pending()
        db.session.rollback()
        for delivery_id in due:
            with self.lock:
                if delivery_id in self.in_flight:
                    continue
                self.in_flight.add(delivery_id)
            self.pool.submit(self._send, delivery_id)
        return waiting

    def _send(self, delivery_id: str) -> None:
        try:
            with self.app.app_context():
                if claim(delivery_id):
                    attempt(delivery_id)
        except Exception:  # noqa: BLE001 - recorded on the row when it can be
            log.exception("webhook delivery %s failed", delivery_id)
        finally:
            with self.lock:
                self.in_flight.discard(delivery_id)
            self.wakeup.set()

    def idle(self) -> bool:
        with self.lock:
            return not self.in_flight


_pumps_lock = threading.Lock()
IDLE_PASSES = 30  # a pump with nothing pending for this many seconds ends; a commit restarts it
_stopping = threading.Event()


def shutdown() -> None:
    """Stop this process's senders before its database goes away (at exit, and by the
    tests before they remove theirs); a due delivery waits for the next process."""
    _stopping.set()


atexit.register(shutdown)


def _pump(app: Flask, wake: bool = False) -> _Pump:
    with _pumps_lock:
        pump = app.extensions.get("companin_webhook_pump")
        if pump is None or pump.stopped:
            pump = app.extensions["companin_webhook_pump"] = _Pump(app)
        if wake:
            pump.wakeup.set()
        return pump


def wait_for_deliveries(app: Flask, timeout: float = 30.0) -> None:
    """Block until nothing is due or being sent (embedded mode; tests and the CLI). Rows
    waiting for a later retry do not count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            now = utcnow()
            due = db.session.execute(
                select(WebhookDelivery.id).where(
                    or_(WebhookDelivery.status == "sending",
                        (WebhookDelivery.status.in_(_DUE))
                        & (WebhookDelivery.next_attempt_at <= now))).limit(1)).first()
            db.session.rollback()
        if due is None and (app.config["JOBS_MODE"] == "rq" or _pump(app).idle()):
            return
        if app.config["JOBS_MODE"] != "rq":
            _pump(app, wake=True)
        time.sleep(0.05)
    raise TimeoutError("webhook deliveries still pending")


__all__ = ["EVENT_TYPES", "SIGNATURE_HEADER", "attempt", "claim", "create_endpoint",
           "delete_endpoint", "dispatch", "emit", "get_endpoint", "install",
           "list_deliveries", "list_endpoints", "redeliver", "sign", "sweep",
           "update_endpoint", "wait_for_deliveries"]
