"""Known traffic with fixed timestamps, inserted straight into the audit tables.

Every seeded row lies on 2025-03-10 between 10:00 and 14:00 UTC, so the analytics calls a
test makes (which are keyed and logged "now") never fall inside the queried range.

Org A, key a1:  10:05 GET  list  200  10ms | 10:20 GET list 200 20ms
                10:40 GET  one   404   5ms | 10:59:59 POST list 201 300ms
                11:00 GET  list  429   1ms | 11:10 GET list 500 1200ms
Org A, key a2:  10:30 GET  list  200  30ms | 11:30 POST list 201 40ms | 13:15 GET list 200 50ms
Org B, key b1:  10:10 GET  list  200   7ms | 11:45 GET list 503 99ms
Rate-limit events: A/a1 11:00:00 and 11:00:30, A/a2 11:31, B/b1 11:50.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from tests.factories import Tenant, make_key, make_tenant

LIST = "/api/v1/assistants/"
ONE = "/api/v1/assistants/<assistant_id>"
DAY = datetime(2025, 3, 10, tzinfo=UTC)
SINCE = "2025-03-10T10:00:00Z"
UNTIL = "2025-03-10T14:00:00Z"


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute, second=second)


@dataclass
class Traffic:
    a: Tenant
    a2_key_id: str
    b: Tenant
    platform_secret: str
    platform_key_id: str

    def platform(self, path: str, **kw):  # noqa: ANN003, ANN201
        return self.a.client.get(path, headers={"X-API-Key": self.platform_secret}, **kw)


def _log(org_id: str, key_id: str, when: datetime, method: str, route: str, status: int,
         latency: float, path: str | None = None) -> dict:
    return {"org_id": org_id, "api_key_id": key_id, "method": method, "route": route,
            "path": path or route.replace("<assistant_id>", "asst_missing"),
            "status": status, "latency_ms": latency, "request_id": f"req_{when:%H%M%S}{key_id}",
            "client_ip": "10.0.0.1", "created_at": when}


def seed(app, a: Tenant, a2: str, b: Tenant) -> None:  # noqa: ANN001
    from sqlalchemy import insert

    from extensions import db
    from models.audit import RateLimitEvent, RequestLog

    rows = [
        _log(a.org_id, a.key_id, at(10, 5), "GET", LIST, 200, 10),
        _log(a.org_id, a.key_id, at(10, 20), "GET", LIST, 200, 20),
        _log(a.org_id, a.key_id, at(10, 40), "GET", ONE, 404, 5),
        _log(a.org_id, a.key_id, at(10, 59, 59), "POST", LIST, 201, 300),
        _log(a.org_id, a.key_id, at(11, 0), "GET", LIST, 429, 1),
        _log(a.org_id, a.key_id, at(11, 10), "GET", LIST, 500, 1200),
        _log(a.org_id, a2, at(10, 30), "GET", LIST, 200, 30),
        _log(a.org_id, a2, at(11, 30), "POST", LIST, 201, 40),
        _log(a.org_id, a2, at(13, 15), "GET", LIST, 200, 50),
        _log(b.org_id, b.key_id, at(10, 10), "GET", LIST, 200, 7),
        _log(b.org_id, b.key_id, at(11, 45), "GET", LIST, 503, 99),
    ]
    events = [
        (a.org_id, a.key_id, at(11, 0, 0), "rle_a1first"),
        (a.org_id, a.key_id, at(11, 0, 30), "rle_a1second"),
        (a.org_id, a2, at(11, 31), "rle_a2"),
        (b.org_id, b.key_id, at(11, 50), "rle_b1"),
    ]
    with app.app_context():
        db.session.execute(insert(RequestLog), rows)
        db.session.execute(insert(RateLimitEvent), [
            {"id": rid, "org_id": org, "api_key_id": key, "method": "GET", "path": LIST,
             "route": LIST, "client_ip": "203.0.113.9", "limit": "100 per 1 hour",
             "request_id": f"req_{rid}", "created_at": when}
            for org, key, when, rid in events])
        db.session.commit()


@pytest.fixture
def traffic(app) -> Traffic:  # noqa: ANN001
    a = make_tenant(app, "Org A")
    a2_key_id, _ = make_key(app, a.org_id, name="second")
    b = make_tenant(app, "Org B")
    platform_key_id, platform_secret = make_key(app, None, name="ops", platform=True)
    seed(app, a, a2_key_id, b)
    return Traffic(a=a, a2_key_id=a2_key_id, b=b, platform_secret=platform_secret,
                   platform_key_id=platform_key_id)


@pytest.fixture
def rollup_threshold(app):  # noqa: ANN001, ANN201
    """Set ANALYTICS_ROLLUP_MIN_HOURS for one test (the app is session-wide)."""
    saved = app.config.get("ANALYTICS_ROLLUP_MIN_HOURS")

    def set_(hours: float) -> None:
        app.config["ANALYTICS_ROLLUP_MIN_HOURS"] = hours

    yield set_
    if saved is None:
        app.config.pop("ANALYTICS_ROLLUP_MIN_HOURS", None)
    else:
        app.config["ANALYTICS_ROLLUP_MIN_HOURS"] = saved
