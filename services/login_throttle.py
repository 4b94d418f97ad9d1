"""Per-account sign-in back-off (SPEC §12 hardening): after LOGIN_FREE_FAILURES failed
sign-ins for one email, from any number of addresses, the account refuses every attempt
for a wait that doubles with each further failure (LOGIN_BACKOFF_BASE_SECONDS up to
LOGIN_BACKOFF_MAX_SECONDS). A successful sign-in clears it, and failures are forgotten an
hour after the last one, so the real user is never locked out for long.

State lives in the limiter's storage (Redis in services mode: every process and host
shares it; memory in embedded mode), keyed by a hash of the email, not the email.
"""
from __future__ import annotations

import hashlib
import time

from flask import current_app
from limits.storage import Storage

from extensions import limiter

FORGET_AFTER_SECONDS = 3600


def _storage() -> Storage:
    return limiter.limiter.storage


def _keys(email: str) -> tuple[str, str]:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    prefix = current_app.config["RATELIMIT_KEY_PREFIX"]
    return f"{prefix}/login-failures/{digest}", f"{prefix}/login-locked/{digest}"


def wait_seconds(email: str) -> int:
    """Seconds this account must wait before the next attempt (0: it may try now)."""
    if not limiter.enabled or not email:
        return 0
    _failures, locked = _keys(email)
    if _storage().get(locked) <= 0:
        return 0
    return max(1, int(_storage().get_expiry(locked) - time.time() + 0.999))


def failed(email: str) -> int:
    """Count a failed sign-in; returns the wait it starts (0 while still free)."""
    if not limiter.enabled or not email:
        return 0
    cfg = current_app.config
    failures_key, locked = _keys(email)
    failures = _storage().incr(failures_key, FORGET_AFTER_SECONDS)
    over = failures - int(cfg["LOGIN_FREE_FAILURES"])
    if over < 0:
        return 0
    wait = min(int(cfg["LOGIN_BACKOFF_MAX_SECONDS"]),
               int(cfg["LOGIN_BACKOFF_BASE_SECONDS"]) * 2 ** min(over, 20))
    _storage().clear(locked)
    _storage().incr(locked, wait)
    return wait


def succeeded(email: str) -> None:
    if not limiter.enabled or not email:
        return
    for key in _keys(email):
        _storage().clear(key)
