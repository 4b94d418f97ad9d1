"""The fixed-window limiter strategy: one Redis round trip per accepted request.

Flask-Limiter's stock fixed window costs two or three calls per request: the hit (a Lua
INCRBY + EXPIRE), then GET and TTL for the `X-RateLimit-*` headers. Here one script does
the hit and returns the count and the time left in the window; the headers are computed
from that result. The same script reads the organization's key version (services.key_cache)
so a cached key is confirmed in the same round trip.

An organization's counter key leaves out the limit's amount (the stock key contains it),
so raising or lowering its limit keeps what it has spent in the current window. Exactness
is Redis's INCRBY: every process and host counts in one place. The in-memory storage
(embedded mode, one process) takes the same path without Lua.
"""
from __future__ import annotations

import time
from typing import Any

from flask import current_app, g, has_request_context
from limits import RateLimitItem, parse
from limits.storage import RedisStorage, Storage
from limits.strategies import STRATEGIES, FixedWindowRateLimiter
from limits.util import WindowStats

from extensions import limiter

STRATEGY_NAME = "companin-fixed-window"

# KEYS[1] counter, KEYS[2] key version (optional); ARGV[1] window seconds, ARGV[2] cost.
_HIT_SCRIPT = """
local current = redis.call("incrby", KEYS[1], ARGV[2])
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
local ttl = redis.call("pttl", KEYS[1])
local version = false
if KEYS[2] then
    version = redis.call("get", KEYS[2])
end
return {current, ttl, version}
"""


# The per-organization (and per platform key) budget's identifier (extensions.py keys the
# limiter with it).
BUDGET_PREFIXES = ("org:", "platform:", "key:")


def budget_key(org_id: str | None, key_id: str) -> str:
    return f"org:{org_id}" if org_id else f"platform:{key_id}"


def key_budget_key(key_id: str) -> str:
    """A key's own budget inside its organization's (SPEC §12 rate_limit_per_hour)."""
    return f"key:{key_id}"


def counter_key(item: RateLimitItem, identifiers: tuple[str, ...]) -> str:
    """An organization's budget: `LIMITER/<identifiers>/<multiples>/<granularity>`, the
    amount left out so a new limit keeps the window's count. Any other limit (the sign-in
    throttle, whose figure is configurable) keeps the stock key, amount included."""
    if not any(str(i).startswith(BUDGET_PREFIXES) for i in identifiers):
        return item.key_for(*identifiers)
    parts = [str(i) for i in identifiers] + [str(item.multiples), item.GRANULARITY.name]
    return f"{item.namespace}/" + "/".join(parts)


class OneTripFixedWindow(FixedWindowRateLimiter):
    """Fixed window whose hit also answers the header values (and the key version)."""

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage)
        self._script: Any = None

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        key = counter_key(item, identifiers)
        if isinstance(self.storage, RedisStorage):
            count, reset_at, version = self._redis_hit(key, item.get_expiry(), cost)
        else:
            count = self.storage.incr(key, item.get_expiry(), amount=cost)
            reset_at, version = self.storage.get_expiry(key), None
        if has_request_context():  # the object behind the proxy: one lookup, not two
            state = g._get_current_object()
            state.rate_limit_window = (key, count, reset_at)
            state.key_version_seen = version
        return count <= item.amount

    def _redis_hit(self, key: str, expiry: int, cost: int) -> tuple[int, float, str | None]:
        storage: Any = self.storage
        if self._script is None:
            self._script = storage.get_connection().register_script(_HIT_SCRIPT)
        keys = [storage.prefixed_key(key)]
        version_key = (g._get_current_object().get("key_version_key")
                       if has_request_context() else None)
        if version_key:
            keys.append(version_key)
        count, pttl, version = self._script(keys, [expiry, cost])
        reset_at = time.time() + max(int(pttl), 0) / 1000.0
        if isinstance(version, bytes):
            version = version.decode()
        return int(count), reset_at, (version or "0") if version_key else None

    def test(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        return self.storage.get(counter_key(item, identifiers)) < item.amount - cost + 1

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        key = counter_key(item, identifiers)
        seen = g._get_current_object().get("rate_limit_window") if has_request_context() else None
        if seen is not None and seen[0] == key:  # this request's hit already said it
            return WindowStats(seen[2], max(0, item.amount - seen[1]))
        count = self.storage.get(key)
        return WindowStats(self.storage.get_expiry(key), max(0, item.amount - count))

    def clear(self, item: RateLimitItem, *identifiers: str) -> None:
        self.storage.clear(counter_key(item, identifiers))


def hit(limit: str | RateLimitItem, *identifiers: str) -> bool:
    """Spend one call of `limit` ("60/minute") for `identifiers` on the limiter's storage,
    under the app's key prefix as Flask-Limiter keys its own; True while within it."""
    item = parse(limit) if isinstance(limit, str) else limit
    return limiter.limiter.hit(item, current_app.config["RATELIMIT_KEY_PREFIX"], *identifiers)


STRATEGIES[STRATEGY_NAME] = OneTripFixedWindow  # Flask-Limiter picks strategies by name
