"""API keys: minted once, stored as a hash, looked up by a visible prefix.

Format `cpn_live_<40 base62>` so secret scanners can spot leaked keys. The visible prefix
(first 16 characters) narrows the lookup; the sha256 comparison is constant-time.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select

from errors import NotFound, ValidationFailed
from extensions import db
from models.orgs import ApiKey, Organization
from models.types import utcnow

KEY_SCHEME = "cpn_live_"

# SPEC §12. Granting keys:manage is reserved to the console and the CLI: a key that may
# manage keys could otherwise mint itself a successor that outlives its own revocation.
SCOPES = ("assistants:read", "assistants:write", "knowledge:read", "knowledge:write",
          "conversations:read", "conversations:write", "analytics:read", "keys:manage",
          "webhooks:manage", "audit:read")
MANAGE_SCOPE = "keys:manage"
DEFAULT_SCOPES = tuple(s for s in SCOPES if s != MANAGE_SCOPE)
_ALPHABET = string.ascii_letters + string.digits
_SECRET_LEN = 40
PREFIX_LEN = len(KEY_SCHEME) + 8


@dataclass
class MintedKey:
    key: ApiKey
    secret: str  # shown once, never stored


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _mint_secret() -> str:
    return KEY_SCHEME + "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_LEN))


def create_key(
    org: Organization | None, *, name: str = "", platform: bool = False,
    created_by_user_id: str | None = None, scopes: list[str] | None = None,
    expires_at: datetime | None = None, rate_limit_per_hour: int | None = None,
    may_grant_manage: bool = True,
) -> MintedKey:
    """A new key for `org` (or a platform key when `platform`); commits. `scopes` None
    means DEFAULT_SCOPES; `may_grant_manage` is False when a key mints the key (API)."""
    if platform == (org is not None):
        raise ValueError("a key is either bound to one organization or a platform key")
    settings = check_settings(org, {"name": name, "scopes": scopes, "expires_at": expires_at,
                                    "rate_limit_per_hour": rate_limit_per_hour},
                              may_grant_manage=may_grant_manage)
    secret = _mint_secret()
    key = ApiKey(
        org_id=org.id if org else None,
        name=settings["name"] or ("platform" if platform else "default"),
        prefix=secret[:PREFIX_LEN], key_hash=hash_key(secret), is_platform=platform,
        created_by_user_id=created_by_user_id,
        scopes=[] if platform else settings.get("scopes") or list(DEFAULT_SCOPES),
        expires_at=settings.get("expires_at"),
        rate_limit_per_hour=settings.get("rate_limit_per_hour"),
    )
    db.session.add(key)
    db.session.commit()
    return MintedKey(key=key, secret=secret)


def check_settings(org: Organization | None, data: dict[str, Any], *,
                   may_grant_manage: bool, current: ApiKey | None = None) -> dict[str, Any]:
    """The fields of `data` that are present, checked together (422 naming each one):
    known scopes, keys:manage only where it may be granted, an expiry in the future, a
    per-key limit within the organization's."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if "name" in data:
        out["name"] = (data["name"] or "").strip()
        if len(out["name"]) > 120:
            errors["name"] = ["At most 120 characters."]
    if data.get("scopes") is not None:  # [] is a choice (refused), None the default
        wanted = list(dict.fromkeys(data["scopes"]))
        unknown = [s for s in wanted if s not in SCOPES]
        had_manage = current is not None and MANAGE_SCOPE in (current.scopes or [])
        if unknown:
            errors["scopes"] = [f"Unknown scope {', '.join(unknown)}; use any of "
                                f"{', '.join(SCOPES)}."]
        elif not wanted:
            errors["scopes"] = ["Give the key at least one scope."]
        elif MANAGE_SCOPE in wanted and not may_grant_manage and not had_manage:
            errors["scopes"] = [f"{MANAGE_SCOPE} is granted only from the console or the "
                                "CLI (flask key create --scopes)."]
        out["scopes"] = sorted(wanted, key=SCOPES.index) if not unknown else wanted
    if data.get("expires_at") is not None:
        when = data["expires_at"]
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        if when <= utcnow():
            errors["expires_at"] = ["Choose a time in the future."]
        out["expires_at"] = when
    elif "expires_at" in data:
        out["expires_at"] = None
    if data.get("rate_limit_per_hour") is not None:
        per_hour = data["rate_limit_per_hour"]
        budget = org.rate_limit_per_hour if org is not None else None
        if per_hour < 1:
            errors["rate_limit_per_hour"] = ["Must be at least 1."]
        elif budget is not None and per_hour > budget:
            errors["rate_limit_per_hour"] = [
                f"At most the organization's own limit ({budget} per hour)."]
        out["rate_limit_per_hour"] = per_hour
    elif "rate_limit_per_hour" in data:
        out["rate_limit_per_hour"] = None
    if errors:
        raise ValidationFailed(errors)
    return out


def update_key(org: Organization, key_id: str, changes: dict[str, Any], *,
               may_grant_manage: bool) -> ApiKey:
    """Rename, re-scope, change expiry or the per-key limit; takes effect on the next
    request in every process (the key cache is bumped by the commit)."""
    key = get_key(org, key_id)
    settings = check_settings(org, changes, may_grant_manage=may_grant_manage, current=key)
    if not settings.get("name", True):
        settings.pop("name")  # a blank name keeps the current one
    for field, value in settings.items():
        setattr(key, field, value)
    db.session.commit()
    return key


def verify_key(secret: str) -> tuple[ApiKey, Organization | None] | None:
    """The active key matching `secret` with its organization (None for platform keys),
    in one query; None when unknown or revoked. Never raises on malformed input."""
    if not secret or not secret.startswith(KEY_SCHEME) or len(secret) > 200:
        return None
    digest = hash_key(secret)
    candidates = db.session.execute(
        select(ApiKey, Organization)
        .outerjoin(Organization, Organization.id == ApiKey.org_id)
        .where(ApiKey.prefix == secret[:PREFIX_LEN])
    ).all()
    for key, org in candidates:
        if hmac.compare_digest(key.key_hash, digest):
            if key.revoked_at is not None or (key.org_id is not None and org is None):
                return None
            return key, org
    return None


def needs_touch(key: ApiKey, resolution_seconds: int, now: datetime | None = None) -> bool:
    """Whether `last_used_at` is stale enough to rewrite (at most once per resolution).

    The request-log writer carries the update in its own transaction, so tracking use costs
    no extra round trip on most requests.
    """
    now = now or utcnow()
    return key.last_used_at is None or now - key.last_used_at >= timedelta(
        seconds=resolution_seconds
    )


def keys_query(org: Organization | str) -> Select:
    """The organization's keys (platform keys belong to no organization)."""
    return select(ApiKey).where(ApiKey.org_id == (org if isinstance(org, str) else org.id))


def list_keys(org: Organization | str) -> list[ApiKey]:
    stmt = keys_query(org).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    return list(db.session.execute(stmt).scalars())


def get_key(org: Organization | str, key_id: str) -> ApiKey:
    org_id = org if isinstance(org, str) else org.id
    key = db.session.execute(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.org_id == org_id)
    ).scalar_one_or_none()
    if key is None:
        raise NotFound("API key not found.")
    return key


def revoke_key(org: Organization | str, key_id: str) -> ApiKey:
    """Idempotent; a revoked key stops working on the next request in every process."""
    key = get_key(org, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.commit()
    return key
