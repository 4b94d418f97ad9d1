"""Audit rows written outside the request's own transaction."""
from __future__ import annotations

from sqlalchemy import insert

from extensions import db
from models.audit import RateLimitEvent
from models.ids import new_id
from models.types import utcnow
from services import webhooks
from services.ratelimit import hit

# A flood of refused calls is one `rate_limit.exceeded` webhook a minute per organization,
# counted on the limiter's shared storage (every process and host), not one per call:
# every refusal is still a row here.
NOTIFY_EVERY = "1/minute"


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
    if org_id is not None and hit(NOTIFY_EVERY, "rate-limit-webhook", org_id):
        webhooks.emit(org_id, "rate_limit.exceeded", {
            "api_key_id": api_key_id, "method": method, "path": path, "limit": limit,
            "request_id": request_id,
            "note": "Further refusals in the next minute are not sent."})
    db.session.commit()
