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
from datetime import datetime, timedelta

from sqlalchemy import select

from errors import NotFound, ValidationFailed
from extensions import db
from models.orgs import ApiKey, Organization
from models.types import utcnow

KEY_SCHEME = "cpn_live_"
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
    created_by_user_id: str | None = None,
) -> MintedKey:
    """A new key for `org` (or a platform key when `platform`); commits."""
    if platform == (org is not None):
        raise ValueError("a key is either bound to one organization or a platform key")
    name = (name or "").strip()
    if len(name) > 120:
        raise ValidationFailed({"name": ["At most 120 characters."]})
    secret = _mint_secret()
    key = ApiKey(
        org_id=org.id if org else None, name=name or ("platform" if platform else "default"),
        prefix=secret[:PREFIX_LEN], key_hash=hash_key(secret), is_platform=platform,
        created_by_user_id=created_by_user_id,
    )
    db.session.add(key)
    db.session.commit()
    return MintedKey(key=key, secret=secret)


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


def list_keys(org: Organization | str) -> list[ApiKey]:
    org_id = org if isinstance(org, str) else org.id
    stmt = (
        select(ApiKey).where(ApiKey.org_id == org_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    )
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
