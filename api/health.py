"""`GET /healthz` — no key, no rate limit: for load balancers and uptime checks."""
from __future__ import annotations

from flask import Blueprint, Response, current_app

from api.endpoint import endpoint, to_response
from api.errors import json_error
from api.schemas.common import HealthOut
from services.health import health

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@endpoint(summary="Health of this process's stores (database, Redis, jobs, index, log queue)",
          tags=["health"], response=HealthOut, auth=False)
def healthz() -> Response:
    healthy, report = health(current_app._get_current_object())  # type: ignore[attr-defined]
    if healthy:
        resp = to_response(HealthOut(**report), 200)
    else:  # 503 in the contract's error format, the report in its details
        resp = json_error(503, "service_unavailable",
                          "A store this process needs is unreachable.", report,
                          {"Retry-After": "5"})
    resp.headers["Cache-Control"] = "no-store"
    return resp
