"""SPEC §12 hardening: calls without a valid key are throttled per address and a flood of
them is neither logged nor audited row by row; 404s and 405s under a valid key spend the
organization's budget like any call."""
from __future__ import annotations

import secrets

from sqlalchemy import func, select

from tests.factories import make_tenant


def _rows(app, model, ip: str) -> int:  # noqa: ANN001
    from extensions import db

    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)
                                  .where(model.client_ip == ip)).scalar_one()


def test_an_anonymous_flood_is_throttled_and_not_logged_row_by_row(app, tenant, monkeypatch):
    from models.audit import RateLimitEvent, RequestLog

    monkeypatch.setitem(app.config, "ANON_RATE_LIMIT", "5/minute")
    ip = f"203.0.113.{secrets.randbelow(250) + 1}"
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    answers = [client.get("/api/v1/assistants/",
                          headers={"X-API-Key": "ck_live_wrong" if n % 2 else ""})
               for n in range(40)]
    codes = [a.status_code for a in answers]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    refused = answers[-1].json["error"]
    assert refused["code"] == "rate_limited" and "without a valid API key" in refused["message"]
    assert _rows(app, RequestLog, ip) == 5  # the five answered with 401, not the flood
    assert _rows(app, RateLimitEvent, ip) == 1  # audited once a minute, not 35 times
    # the address's own valid key is not caught by the anonymous budget
    keyed = client.get("/api/v1/assistants/", headers={"X-API-Key": tenant.secret})
    assert keyed.status_code == 200


def test_404_and_405_under_a_key_spend_the_organizations_budget(app):
    limited = make_tenant(app, "Probe", rate_limit=3)
    assert limited.get("/api/v1/no-such-route").status_code == 404
    assert limited.delete("/api/v1/assistants/").status_code == 405
    assert limited.get("/api/v1/assistants/").status_code == 200
    over = limited.get("/api/v1/no-such-route")
    assert over.status_code == 429 and over.json["error"]["code"] == "rate_limited"
    assert limited.get("/api/v1/assistants/").status_code == 429
    events = limited.get("/api/v1/audit-events")  # even a read is refused now
    assert events.status_code == 429
