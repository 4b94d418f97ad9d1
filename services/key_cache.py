"""Verified API keys cached in process, confirmed on every request in the limiter's round
trip, so a keyed call skips the key + organization query without delaying revocation.

Services mode only (the limiter on Redis). Each organization (and each platform key) has a
version number in Redis. A cache entry remembers the version it was verified under; the
limiter script returns the current version with the hit, and a different version (or no
hit at all) sends the request back to the database before its view runs. Every commit that
changes an Organization or an ApiKey (revoke, settings, embedding model...) bumps the
version after the commit, from a session event, so no code path can forget to; the
process that committed also drops its own entries at once. KEY_CACHE_SECONDS bounds an
entry's age in case a bump was lost (Redis unreachable at that instant).

Embedded mode does not cache: the lookup is a local SQLite read, and a second process
(the CLI) could not tell the server about a revocation.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from flask import Flask, current_app, g
from limits.storage import RedisStorage
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from extensions import db, limiter
from models.orgs import ApiKey, ApiKeySnapshot, Organization, OrganizationSnapshot
from services.db_retry import first_read
from services.keys import hash_key, verify_key

log = logging.getLogger("companin.key_cache")

_CHANGED = "companin_key_scopes_changed"
MAX_ENTRIES = 10_000


def scope_of(key: ApiKey | ApiKeySnapshot) -> str:
    """What one version number covers: the key's organization, or the platform key."""
    return key.org_id or f"platform-{key.id}"


@dataclass
class Entry:
    key: ApiKeySnapshot
    org: OrganizationSnapshot | None
    scope: str
    version: str
    cached_at: float


class KeyCache:
    def __init__(self, app: Flask) -> None:
        self.ttl = float(app.config["KEY_CACHE_SECONDS"])
        self.prefix = app.config["RATELIMIT_KEY_PREFIX"]
        self._entries: dict[str, Entry] = {}
        # key digest -> version scope: a key never changes organization, so this is kept
        # (bounded) even when the entry is dropped, to read the version before the rows.
        self.scopes: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Only where every request's limiter hit returns the version to confirm with."""
        return (self.ttl > 0 and limiter.enabled
                and isinstance(limiter.storage, RedisStorage))

    def version_key(self, scope: str) -> str:
        return f"{self.prefix}:keyver:{scope}"

    # -- reads ------------------------------------------------------------------------
    def get(self, digest: str) -> Entry | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if time.monotonic() - entry.cached_at > self.ttl:
            self.drop(digest)
            return None
        return entry

    def current_version(self, scope: str) -> str:
        raw = limiter.storage.get_connection().get(self.version_key(scope))  # type: ignore[attr-defined]
        return raw.decode() if isinstance(raw, bytes) else str(raw or "0")

    def put(self, digest: str, found: Found, version: str) -> None:
        entry = Entry(found[0], found[1], scope_of(found[0]), version, time.monotonic())
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.pop(next(iter(self._entries)))  # the oldest entry
            self._entries[digest] = entry

    def remember_scope(self, digest: str, scope: str) -> None:
        with self._lock:
            if len(self.scopes) >= MAX_ENTRIES:
                self.scopes.pop(next(iter(self.scopes)), None)
            self.scopes[digest] = scope

    def drop(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def drop_scopes(self, scopes: set[str]) -> None:
        with self._lock:
            for digest in [d for d, e in self._entries.items() if e.scope in scopes]:
                self._entries.pop(digest, None)

    def bump(self, scopes: set[str]) -> None:
        """After a commit that changed keys or organizations: every process re-verifies.

        Announced whenever the limiter is on Redis, whatever this process's own cache
        settings (a CLI or a worker commits too). A fresh random token, not a counter:
        a version can never come back to a value an old entry holds."""
        if isinstance(limiter.storage, RedisStorage):
            try:
                pipe = limiter.storage.get_connection().pipeline(transaction=False)
                for scope in scopes:
                    pipe.set(self.version_key(scope), secrets.token_hex(8))
                pipe.execute()
            except Exception:  # noqa: BLE001 - the commit stands; entries expire by age
                log.exception("could not announce key changes for %s; cached keys expire "
                              "within %.0f s", sorted(scopes), self.ttl)
        self.drop_scopes(scopes)


# What a request is served with: read-only snapshots, never the session's instances, in
# both modes (the cache shares them between requests; building ORM copies per request was
# a tenth of a keyed call).
Found = tuple[ApiKeySnapshot, OrganizationSnapshot | None]


def snapshot(found: tuple[ApiKey, Organization | None]) -> Found:
    key, org = found
    return ApiKeySnapshot.of(key), OrganizationSnapshot.of(org) if org is not None else None


def verify(secret: str) -> tuple[Found | None, tuple[str, Entry] | None]:
    """(key and organization or None, the cache entry to confirm after the limiter's hit).

    A cached entry is used at once and must then be confirmed against the version the
    limiter's script saw (api.auth.confirm_cached_key, before the view runs)."""
    cache = get_key_cache(current_app._get_current_object())  # not via the proxy's lookup
    if not cache.enabled:
        found = first_read(lambda: verify_key(secret))
        return (snapshot(found) if found is not None else None), None
    digest = hash_key(secret)
    entry = cache.get(digest)
    if entry is not None:
        g._get_current_object().key_version_key = cache.version_key(entry.scope)
        return (entry.key, entry.org), (digest, entry)
    return reverify(secret, digest, None), None


def confirm(secret: str, pending: tuple[str, Entry], seen: str | None,
            current: Found) -> Found | None:
    """What to serve this request with: `current` (from the cache) when the limiter's hit
    saw the entry's version; otherwise the database's answer, None when the key no longer
    works. No hit at all (`seen` None) also goes to the database."""
    digest, entry = pending
    if seen is not None and seen == entry.version:
        return current
    return reverify(secret, digest, seen)


def note_use(secret: str, when: Any) -> None:
    """The request log writes last_used_at; the cached copy learns it here."""
    cache = get_key_cache(current_app)
    if cache.enabled and (entry := cache.get(hash_key(secret))) is not None:
        entry.key = replace(entry.key, last_used_at=when)


def reverify(secret: str, digest: str, version: str | None) -> Found | None:
    """The database's answer, cached under a version read *before* the rows: a change
    committed in between then shows as a newer version on the next request."""
    cache = get_key_cache(current_app)
    scope = cache.scopes.get(digest)
    if version is None and scope is not None:
        version = cache.current_version(scope)
    found = first_read(lambda: verify_key(secret))
    if found is None:
        cache.drop(digest)
        return None
    key, org = found
    if version is None or scope != scope_of(key):  # first sight of this key here
        scope = scope_of(key)
        version = cache.current_version(scope)
        for obj in (key, org):
            if obj is not None:
                db.session.expunge(obj)
        found = verify_key(secret)  # read again, after the version
        if found is None:
            return None
    served = snapshot(found)
    cache.remember_scope(digest, scope)
    cache.put(digest, served, version)
    g.key_version_key = cache.version_key(scope)
    return served


def get_key_cache(app: Flask) -> KeyCache:
    return app.extensions["companin_key_cache"]


def init_key_cache(app: Flask) -> None:
    app.extensions["companin_key_cache"] = KeyCache(app)
    _listen_once()


_listening = False


def _listen_once() -> None:
    """Session events are global (every app, every session): registered once."""
    global _listening
    if _listening:
        return
    _listening = True
    event.listen(Session, "before_flush", _collect_changes)
    event.listen(Session, "after_commit", _bump_after_commit)
    event.listen(Session, "after_soft_rollback", _forget_changes)


def _collect_changes(session: Session, _ctx: Any, _instances: Any) -> None:
    scopes: set[str] = session.info.setdefault(_CHANGED, set())
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Organization) and (obj in session.deleted
                                              or session.is_modified(obj)):
            scopes.add(obj.id)
        elif isinstance(obj, ApiKey) and (obj in session.deleted or _key_changed(obj)):
            scopes.add(scope_of(obj))


def _key_changed(key: ApiKey) -> bool:
    """Any change but last_used_at (rewritten once a minute, never read by auth)."""
    state = inspect(key)
    return any(attr.history.has_changes() for attr in state.attrs
               if attr.key != "last_used_at")


def _bump_after_commit(session: Session) -> None:
    scopes = session.info.pop(_CHANGED, None)
    if not scopes:
        return
    from flask import has_app_context

    if has_app_context() and "companin_key_cache" in current_app.extensions:
        get_key_cache(current_app).bump(scopes)


def _forget_changes(session: Session, previous: Any) -> None:
    if previous.nested:  # a savepoint: changes flushed before it still commit
        return
    session.info.pop(_CHANGED, None)
