"""Audit rows written outside the request's own transaction."""
from __future__ import annotations

import threading
import time

from sqlalchemy import insert

from extensions import db
from models.audit import RateLimitEvent
from models.ids import new_id
from models.types import utcnow
from services import webhooks

# A flood of refused calls is one `rate_limit.exceeded` webhook a minute per organization
# (per process), not one per call: every refusal is still a row here.
NOTIFY_EVERY_SECONDS = 60.0
_notified: dict[str, float] = {}
_notified_lock = threading.Lock()


def _notify_now(org_id: str) -> bool:
    now = time.monotonic()
    with _notified_lock:
        last = _notified.get(org_id)
        if last is not None and now - last < NOTIFY_EVERY_SECONDS:
            return False
        _notified[org_id] = now
        return True


def record_rate_limit_event(
    *, org_id: str | None, api_key_id: str | None, method: str, path: str,
    route: str | None, client_ip: str | None, limit: str, request_id: str | None,
) -> None:
    """One row per refused call; committed at once so a crash later cannot lose it."""
    db.session.execute(
        insert(RateLimitEvent).values(
            id=new_id("rle"), org_id=org_id, api_key_id=api_key_id, method=method, path=path,
            route=route, client_ip=client_ip, limit=limit, request_id=request_id,
            created_at=utcnow(),
        )
    )
    if org_id is not None and _notify_now(org_id):
        webhooks.emit(org_id, "rate_limit.exceeded", {
            "api_key_id": api_key_id, "method": method, "path": path, "limit": limit,
            "request_id": request_id,
            "note": f"Further refusals in the next {NOTIFY_EVERY_SECONDS:g} s are not sent."})
    db.session.commit()
