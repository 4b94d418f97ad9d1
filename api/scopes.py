"""Which scope each keyed operation needs (SPEC §12), decided in one place.

A resource's reads need `<area>:read` and everything else `<area>:write`; analytics and
the audit trail are read-only, and keys and webhooks need `keys:manage` and
`webhooks:manage`. The endpoint decorator checks it before the view runs and the OpenAPI
document lists it per operation, from the same function.
"""
from __future__ import annotations

from flask import g, request

from errors import Forbidden

# Blueprint → the area its operations belong to.
AREAS = {
    "assistants": "assistants", "knowledge": "knowledge", "jobs": "knowledge",
    "sessions": "conversations", "contexts": "conversations",
    "conversations": "conversations", "analytics": "analytics", "keys": "keys",
    "audit": "audit", "webhooks": "webhooks",
}
READS = frozenset({"GET", "HEAD"})


def required_scope(endpoint_name: str, method: str) -> str | None:
    """The scope a call of `endpoint_name` (blueprint.view) with `method` needs."""
    area = AREAS.get(endpoint_name.partition(".")[0])
    if area is None:
        return None
    if area in ("analytics", "audit"):  # read-only areas
        return f"{area}:read"
    if area in ("keys", "webhooks"):  # managed as a whole: reads show delivery logs
        return f"{area}:manage"
    return f"{area}:{'read' if method.upper() in READS else 'write'}"


def require_scope() -> None:
    """403 `insufficient_scope` naming the scope when the caller's key lacks it. Platform
    keys are not scoped (they are minted by the CLI for the platform's operators)."""
    auth = g._get_current_object().get("auth")
    if auth is None or auth.key.is_platform:
        return
    req = request._get_current_object()  # one proxy lookup, not one per attribute
    needed = required_scope(req.endpoint or "", req.method)
    if needed is not None and needed not in (auth.key.scopes or ()):
        raise Forbidden(f"This API key lacks the {needed} scope this call needs.",
                        code="insufficient_scope", details={"required_scope": needed})
