"""Per-organization limit wiring for Flask-Limiter and the 429 response with its audit row."""
from __future__ import annotations

import logging

from flask import Response, g, request
from limits import parse
from werkzeug.exceptions import HTTPException

from api.auth import confirm_cached_key
from api.errors import LimitExceeded, json_error
from errors import Unauthorized
from extensions import limiter
from services.audit import record_rate_limit_event
from services.ratelimit import hit, key_budget_key

log = logging.getLogger("companin.ratelimit")


def org_limit() -> str:
    return g._get_current_object().get("rate_limit_value") or "100/hour"


def exempt() -> bool:
    """Only authenticated keyed calls count; the console has its own login throttle."""
    return g._get_current_object().get("rate_limit_key") is None


def count_unrouted() -> None:
    """A 404 or 405 under a valid key spends its organization's budget like any call:
    Flask-Limiter skips a request that matches no view, so a key could probe for free."""
    if (request._get_current_object().url_rule is not None or not limiter.enabled or exempt()
            or g.get("rate_limit_window") is not None):
        return
    item = parse(org_limit())
    if not hit(item, g.rate_limit_key, "global"):  # Flask-Limiter's own counter
        raise LimitExceeded(str(item))


def enforce_key_limit() -> None:
    """After the organization's hit: a key with its own `rate_limit_per_hour` spends that
    too (one more counter, only for such keys). The call already counts against its
    organization, so a key cannot exceed the budget it lives in."""
    auth = g._get_current_object().get("auth")
    per_hour = auth.key.rate_limit_per_hour if auth is not None else None
    if not per_hour or not limiter.enabled or exempt():
        return
    item = parse(f"{per_hour}/hour")
    window = g.get("rate_limit_window")  # keep the organization's for the headers
    allowed = limiter.limiter.hit(item, key_budget_key(auth.key.id))
    g.rate_limit_window = window
    if not allowed:
        raise LimitExceeded(f"{per_hour} per 1 hour (this key)")


def rate_limited_response(exc: HTTPException) -> Response:
    """429 `rate_limited`; the view never ran. Audits the refusal (org, key, path, IP).

    The limiter refused before a cached key was confirmed: confirm it first, so a revoked
    key gets its 401 (and no audit row) even while its organization is over budget."""
    try:
        confirm_cached_key()
    except Unauthorized as exc:
        return json_error(exc.status, exc.code, exc.message)
    auth = g.get("auth")
    limit = getattr(exc, "limit", None)  # Flask-Limiter's; a key's own limit gives text
    limit_text = getattr(exc, "limit_text", None) or (str(limit.limit) if limit else "")
    if g.get("anonymous_throttled") and not _first_refusal_this_minute():
        return json_error(429, "rate_limited", "Too many calls without a valid API key from "
                          "this address; wait a minute.", {"limit": limit_text})
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


def _first_refusal_this_minute() -> bool:
    """An address refused without a key is audited once a minute, not once per call: a
    flood must not grow the rate-limit events (or the request log) without bound."""
    return hit("1/minute", "anonymous-audited", request.remote_addr or "?")
