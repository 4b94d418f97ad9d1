"""`X-API-Key` authentication for every keyed path (SPEC §1).

Runs as an app-level before_request registered before the limiter, so the limiter can key
on the organization and an unauthenticated call never spends an organization's budget.
The hooks read `request` and `g` through the objects behind the proxies
(`_get_current_object()`): a proxied attribute costs ~8,000 instructions (api.observability).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app, g, request
from limits import parse
from limits.errors import StorageError
from redis.exceptions import RedisError

from api.endpoint import reads_outside_transaction
from api.errors import LimitExceeded
from errors import Unauthorized
from extensions import limiter
from models.orgs import ApiKeySnapshot, OrganizationSnapshot
from models.types import utcnow
from services import audit_trail, key_cache
from services.db_retry import read_outside_transaction
from services.keys import needs_touch
from services.ratelimit import budget_key, hit

log = logging.getLogger("companin.auth")
KEYED_PREFIXES = ("/api/v1/", "/analytics/", "/analytics")
PUBLIC_PATHS = frozenset({"/api/v1/openapi.json"})


@dataclass
class AuthContext:
    """Who is calling: read-only snapshots of the verified key and its organization
    (services.key_cache), not session instances; a service that changes either loads it."""

    key: ApiKeySnapshot
    org: OrganizationSnapshot | None  # None for platform keys

    @property
    def is_platform(self) -> bool:
        return self.key.is_platform

    @property
    def key_id(self) -> str:
        return self.key.id


def is_keyed_path(path: str) -> bool:
    return path.startswith(KEYED_PREFIXES) and path not in PUBLIC_PATHS


def authenticate_request() -> None:
    req = request._get_current_object()
    if not is_keyed_path(req.path):
        return
    if reads_outside_transaction():
        read_outside_transaction()
    if "api_key" in req.args:
        raise Unauthorized(
            "API keys are accepted only in the X-API-Key header, never in the URL.",
            code="api_key_in_query",
        )
    secret = req.headers.get("X-API-Key", "").strip()
    if not secret:
        throttle_anonymous()
        raise Unauthorized("Send your API key in the X-API-Key header.", code="missing_api_key")
    found, cached = key_cache.verify(secret)
    if found is None:
        throttle_anonymous()
        raise _invalid()
    state = g._get_current_object()
    state.key_cache_check = cached
    _bind(*found)
    if state.key_touch:  # a cached entry must not ask for a touch on every request
        key_cache.note_use(secret, utcnow())


def throttle_anonymous() -> None:
    """A call without a valid key spends its address's budget (ANON_RATE_LIMIT, on the
    limiter's shared storage): past it the answer is 429, not logged row by row."""
    if not limiter.enabled:
        return
    item = parse(current_app.config["ANON_RATE_LIMIT"])
    try:
        allowed = hit(item, "anonymous", request.remote_addr or "?")
    except (RedisError, StorageError):
        # The limiter's storage is down: keyed calls get 503 (they cannot be counted); a
        # keyless one still gets its 401, which serves nothing.
        log.warning("anonymous throttle skipped: the limiter's storage is unavailable")
        return
    if not allowed:
        g.anonymous_throttled = True
        raise LimitExceeded(f"{item} (no key)")  # fits rate_limit_events.limit


def confirm_cached_key() -> None:
    """Runs after the limiter: a cached key is confirmed by the version its hit returned;
    a different one (a key or the organization changed) or no hit goes to the database."""
    state = g._get_current_object()
    pending = state.pop("key_cache_check", None)
    if pending is None:
        return
    auth: AuthContext = state.auth
    served = (auth.key, auth.org)
    found = key_cache.confirm(request._get_current_object().headers.get("X-API-Key", "").strip(),
                              pending, state.get("key_version_seen"), served)
    if found is None:
        state.pop("auth", None)
        raise _invalid()
    if found is not served:  # confirmed as cached: already bound by authenticate_request
        _bind(*found)


def _invalid() -> Unauthorized:
    return Unauthorized("The API key is not valid or has been revoked.",
                        code="invalid_api_key")


def _bind(key: ApiKeySnapshot, org: OrganizationSnapshot | None) -> None:
    state = g._get_current_object()
    if key.is_expired(utcnow()):
        state.pop("auth", None)
        raise Unauthorized(f"This API key expired at {key.expires_at:%Y-%m-%d %H:%M} UTC; "
                           "ask for a new one.", code="key_expired")
    config = current_app._get_current_object().config
    state.auth = AuthContext(key=key, org=org)
    audit_trail.set_actor("key", key.id)
    state.key_touch = needs_touch(key, config["KEY_LAST_USED_RESOLUTION"])
    state.rate_limit_key = budget_key(org.id if org is not None else None, key.id)
    per_hour = (org.rate_limit_per_hour if org is not None
                else config["PLATFORM_RATE_LIMIT_PER_HOUR"])
    state.rate_limit_value = f"{per_hour}/hour"


def current_auth() -> AuthContext:
    auth = g._get_current_object().get("auth")
    if auth is None:
        raise Unauthorized("Send your API key in the X-API-Key header.", code="missing_api_key")
    return auth


def current_org() -> OrganizationSnapshot:
    """The caller's organization (read-only: services read it; one that changes the
    organization loads the row); platform keys must name one on analytics routes."""
    auth = current_auth()
    if auth.org is None:
        from errors import Forbidden

        raise Forbidden("A platform key cannot act inside an organization.",
                        code="platform_key_not_allowed")
    return auth.org
