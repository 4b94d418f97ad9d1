"""Request ids on every response and a request-log row for every keyed call.

These hooks run on every request, so they read `request` and `g` through the objects
behind Flask's proxies (`_get_current_object()`), not attribute by attribute through the
proxy: each proxied attribute costs a failed lookup and its AttributeError first, ~8,000
instructions on CPython 3.11 (issue 15).
"""
from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, current_app, g, request

from api.auth import is_keyed_path
from models.types import utcnow
from extensions import db
from services.request_log import RequestLogWriter, get_writer

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def start_request() -> None:
    state = g._get_current_object()
    state.request_started = time.perf_counter()
    incoming = request._get_current_object().headers.get("X-Request-ID", "")
    state.request_id = incoming if _REQUEST_ID.match(incoming) else "req_" + uuid.uuid4().hex


def finish_request(response: Response) -> Response:
    state, req = g._get_current_object(), request._get_current_object()
    request_id = state.get("request_id") or "req_" + uuid.uuid4().hex
    response.headers["X-Request-ID"] = request_id
    if response.status_code not in (429, 503):  # both tell the client when to come back
        response.headers.pop("Retry-After", None)  # the limiter adds it to every response
    path = req.path
    if not is_keyed_path(path) or state.get("anonymous_throttled"):
        return response  # a refused anonymous flood is counted, not logged row by row
    started = state.get("request_started") or time.perf_counter()
    auth = state.get("auth")
    now = utcnow()
    rule = req.url_rule
    row = {
        "org_id": auth.org.id if auth and auth.org else None,
        "api_key_id": auth.key.id if auth else None,
        # Whatever the client sent must fit the columns: a row the database refuses is
        # a row lost (the writer drops it after trying it alone).
        "method": req.method[:10],
        "route": rule.rule[:200] if rule else "<unmatched>",
        "path": path.replace("\x00", "")[:500],
        "status": response.status_code,
        "latency_ms": round((time.perf_counter() - started) * 1000.0, 3),
        "request_id": request_id,
        "client_ip": (req.remote_addr or "")[:64] or None,
        "created_at": now,
    }
    state.request_log = (row, (auth.key.id, now) if auth and state.get("key_touch") else None)
    return response


def write_request_log(_exc: BaseException | None) -> None:
    """Written at teardown, once the request's session has given its connection back: a
    request never holds two pooled connections (the pool ran dry at ~32 clients)."""
    pending = g._get_current_object().pop("request_log", None)
    if pending is None:
        return
    db.session.remove()
    get_writer(current_app._get_current_object()).write(*pending)


def init_observability(app: Flask) -> None:
    app.extensions["companin_request_log"] = RequestLogWriter(
        app, app.config["REQUEST_LOG_FLUSH_SECONDS"], app.config["REQUEST_LOG_QUEUE_MAX"]
    )
    app.before_request(start_request)
    app.after_request(finish_request)
    app.teardown_request(write_request_log)
