"""Audit rows written outside the request's own transaction."""
from __future__ import annotations

from sqlalchemy import insert

from extensions import db
from models.audit import RateLimitEvent
from models.ids import new_id
from models.types import utcnow


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
    db.session.commit()
