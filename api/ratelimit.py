"""Per-organization limit wiring for Flask-Limiter and the 429 response with its audit row."""
from __future__ import annotations

import logging

from flask import Response, g, request
from werkzeug.exceptions import HTTPException

from api.auth import confirm_cached_key
from api.errors import json_error
from errors import Unauthorized
from services.audit import record_rate_limit_event

log = logging.getLogger("companin.ratelimit")


def org_limit() -> str:
    return getattr(g, "rate_limit_value", None) or "100/hour"


def exempt() -> bool:
    """Only authenticated keyed calls count; the console has its own login throttle."""
    return getattr(g, "rate_limit_key", None) is None


def rate_limited_response(exc: HTTPException) -> Response:
    """429 `rate_limited`; the view never ran. Audits the refusal (org, key, path, IP).

    The limiter refused before a cached key was confirmed: confirm it first, so a revoked
    key gets its 401 (and no audit row) even while its organization is over budget."""
    try:
        confirm_cached_key()
    except Unauthorized as exc:
        return json_error(exc.status, exc.code, exc.message)
    auth = g.get("auth")
    limit = getattr(exc, "limit", None)
    limit_text = str(limit.limit) if limit is not None else ""
    record_rate_limit_event(
        org_id=auth.org.id if auth and auth.org else None,
        api_key_id=auth.key.id if auth else None,
        method=request.method, path=request.path[:500],
        route=request.url_rule.rule if request.url_rule else None,
        client_ip=request.remote_addr, limit=limit_text, request_id=g.get("request_id"),
    )
    log.warning("rate limited org=%s key=%s %s %s",
                auth.org.id if auth and auth.org else None, auth.key.id if auth else None,
                request.method, request.path)
    return json_error(
        429, "rate_limited",
        f"Rate limit of {limit_text or 'this organization'} exceeded; retry after the "
        "window resets.",
        {"limit": limit_text},
    )
