"""`X-API-Key` authentication for every keyed path (SPEC §1).

Runs as an app-level before_request registered before the limiter, so the limiter can key
on the organization and an unauthenticated call never spends an organization's budget.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, request

from errors import Unauthorized
from models.orgs import ApiKey, Organization
from services.keys import needs_touch, verify_key

KEYED_PREFIXES = ("/api/v1/", "/analytics/", "/analytics")
PUBLIC_PATHS = frozenset({"/api/v1/openapi.json"})


@dataclass
class AuthContext:
    key: ApiKey
    org: Organization | None  # None for platform keys

    @property
    def is_platform(self) -> bool:
        return self.key.is_platform

    @property
    def key_id(self) -> str:
        return self.key.id


def is_keyed_path(path: str) -> bool:
    return path.startswith(KEYED_PREFIXES) and path not in PUBLIC_PATHS


def authenticate_request() -> None:
    if not is_keyed_path(request.path):
        return
    if "api_key" in request.args:
        raise Unauthorized(
            "API keys are accepted only in the X-API-Key header, never in the URL.",
            code="api_key_in_query",
        )
    secret = request.headers.get("X-API-Key", "").strip()
    if not secret:
        raise Unauthorized("Send your API key in the X-API-Key header.", code="missing_api_key")
    found = verify_key(secret)
    if found is None:
        raise Unauthorized("The API key is not valid or has been revoked.",
                           code="invalid_api_key")
    key, org = found
    g.auth = AuthContext(key=key, org=org)
    g.key_touch = needs_touch(key, current_app.config["KEY_LAST_USED_RESOLUTION"])
    if org is not None:
        g.rate_limit_key = f"org:{org.id}"
        g.rate_limit_value = f"{org.rate_limit_per_hour}/hour"
    else:
        g.rate_limit_key = f"platform:{key.id}"
        g.rate_limit_value = f"{current_app.config['PLATFORM_RATE_LIMIT_PER_HOUR']}/hour"


def current_auth() -> AuthContext:
    auth = g.get("auth")
    if auth is None:
        raise Unauthorized("Send your API key in the X-API-Key header.", code="missing_api_key")
    return auth


def current_org() -> Organization:
    """The caller's organization; platform keys must name one on analytics routes."""
    auth = current_auth()
    if auth.org is None:
        from errors import Forbidden

        raise Forbidden("A platform key cannot act inside an organization.",
                        code="platform_key_not_allowed")
    return auth.org
