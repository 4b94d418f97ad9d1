"""`/api/v1/keys/` — an organization's API keys, managed by a key with `keys:manage`
(SPEC §12). The secret is in the create response only; `keys:manage` itself is granted
only from the console or the CLI."""
from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, Field

from api.auth import current_org
from api.endpoint import endpoint
from api.schemas.common import IsoDateTime, ListQuery, Page, Strict, Timestamp
from models.orgs import ApiKey
from services import keys as svc
from services.pagination import paginate

bp = Blueprint("keys", __name__, url_prefix="/api/v1/keys")
TAGS = ["Keys"]
Scope = Literal[svc.SCOPES]  # type: ignore[valid-type]


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    expires_at: Timestamp | None
    rate_limit_per_hour: int | None
    is_active: bool
    created_at: Timestamp
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None

    @classmethod
    def of(cls, k: ApiKey) -> "KeyOut":
        return cls(id=k.id, name=k.name, prefix=k.prefix, scopes=list(k.scopes or []),
                   expires_at=k.expires_at, rate_limit_per_hour=k.rate_limit_per_hour,
                   is_active=k.is_active, created_at=k.created_at,
                   last_used_at=k.last_used_at, revoked_at=k.revoked_at)


class KeyCreated(KeyOut):
    secret: str = Field(description="The key itself, shown in this response only.")


_SCOPES_DOC = ("Default: every scope but keys:manage, which only the console and the CLI "
               "grant (422 here). At least one.")
_EXPIRY_DOC = "In the future; null: never expires."
_LIMIT_DOC = ("The key's own requests per hour, at most the organization's limit; null: "
              "only the organization's limit applies.")


class KeyCreate(Strict):
    name: str = Field("", max_length=120)
    scopes: list[Scope] | None = Field(None, description=_SCOPES_DOC)
    expires_at: IsoDateTime | None = Field(None, description=_EXPIRY_DOC)
    rate_limit_per_hour: int | None = Field(None, ge=1, description=_LIMIT_DOC)


class KeyUpdate(Strict):
    name: str | None = Field(None, max_length=120)
    scopes: list[Scope] | None = Field(None, description=_SCOPES_DOC)
    expires_at: IsoDateTime | None = Field(None, description=_EXPIRY_DOC)
    rate_limit_per_hour: int | None = Field(None, ge=1, description=_LIMIT_DOC)


@bp.get("/")
@endpoint(summary="List the organization's API keys (newest first)", tags=TAGS,
          query=ListQuery, response=Page[KeyOut])
def list_(query: ListQuery) -> Page[KeyOut]:
    page = paginate(svc.keys_query(current_org()), ApiKey, limit=query.limit,
                    cursor=query.cursor)
    return Page[KeyOut](items=[KeyOut.of(k) for k in page.items], next_cursor=page.next_cursor)


@bp.post("/")
@endpoint(summary="Create an API key; the secret is in this response only", tags=TAGS,
          body=KeyCreate, response=KeyCreated, status=201)
def create(body: KeyCreate) -> KeyCreated:
    minted = svc.create_key(current_org(), name=body.name, scopes=body.scopes,
                            expires_at=body.expires_at,
                            rate_limit_per_hour=body.rate_limit_per_hour,
                            may_grant_manage=False)
    return KeyCreated(**KeyOut.of(minted.key).model_dump(), secret=minted.secret)


@bp.get("/<key_id>")
@endpoint(summary="Get an API key (never its secret)", tags=TAGS, response=KeyOut,
          errors=(404,))
def get(key_id: str) -> KeyOut:
    return KeyOut.of(svc.get_key(current_org(), key_id))


@bp.patch("/<key_id>")
@endpoint(summary="Rename, re-scope, change the expiry or the per-key hourly limit "
          "(null clears expiry and limit)", tags=TAGS, body=KeyUpdate, response=KeyOut,
          errors=(404,))
def update(key_id: str, body: KeyUpdate) -> KeyOut:
    changes = body.model_dump(exclude_unset=True)
    return KeyOut.of(svc.update_key(current_org(), key_id, changes, may_grant_manage=False))


@bp.post("/<key_id>/revoke")
@endpoint(summary="Revoke an API key (idempotent): calls with it get 401 from now on",
          tags=TAGS, response=KeyOut, errors=(404,))
def revoke(key_id: str) -> KeyOut:
    return KeyOut.of(svc.revoke_key(current_org(), key_id))
