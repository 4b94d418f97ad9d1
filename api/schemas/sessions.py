"""Session and context shapes (SPEC §5)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas.common import ListQuery, Strict, Timestamp, attribute_map

TTL_FIELD = Field(None, ge=60, le=30 * 86400,
                  description="Seconds until the session expires (60 s to 30 days).")


class UserIn(BaseModel):
    """The authenticated end user; any extra keys are kept as free attributes."""

    model_config = ConfigDict(extra="allow")

    external_id: str = Field(..., min_length=1, max_length=255,
                             description="Your id for this person; joins their sessions.")
    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)

    @field_validator("external_id")
    @classmethod
    def _external_id(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("external_id cannot be blank.")
        return v.strip()

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and ("@" not in v or any(c.isspace() for c in v.strip())):
            raise ValueError("Not a valid email address.")
        return None if v is None else v.strip()


class SessionCreate(Strict):
    assistant_id: str = Field(..., max_length=80)
    user: UserIn | None = None
    channel: str | None = Field(None, min_length=1, max_length=64,
                                description="e.g. web, whatsapp, email")
    metadata: dict[str, Any] | None = attribute_map("≤ 50 keys of ≤ 64 chars, plain JSON.")
    ttl_seconds: int | None = TTL_FIELD


class SessionUpdate(Strict):
    ttl_seconds: int | None = Field(None, ge=60, le=30 * 86400,
                                    description="Extends the session: expires this many "
                                                "seconds from now (active sessions only).")
    metadata: dict[str, Any] | None = attribute_map(
        "Merged into the metadata; a null value deletes the key.")


class SessionListQuery(ListQuery):
    external_id: str | None = Field(None, max_length=255)
    channel: str | None = Field(None, max_length=64)
    active: bool | None = None
    assistant_id: str | None = Field(None, max_length=80)


class SessionOut(BaseModel):
    id: str
    assistant_id: str
    anonymous: bool
    user: dict[str, Any] | None
    end_user_id: str | None
    channel: str | None
    metadata: dict[str, Any]
    expires_at: Timestamp
    ended_at: Timestamp | None
    end_reason: str | None
    active: bool
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, s) -> "SessionOut":  # noqa: ANN001 - ORM row
        return cls(id=s.id, assistant_id=s.assistant_id, anonymous=s.anonymous,
                   user=s.user_data, end_user_id=s.end_user_id, channel=s.channel,
                   metadata=s.meta or {}, expires_at=s.expires_at, ended_at=s.ended_at,
                   end_reason=s.end_reason if s.ended_at else None, active=s.is_active(),
                   created_at=s.created_at, updated_at=s.updated_at)


class SessionPage(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None


class ContextCreate(Strict):
    session_id: str = Field(..., max_length=80)
    attributes: dict[str, Any] = attribute_map(
        "≤ 50 keys of ≤ 64 chars, ≤ 16 KB serialized, plain JSON values.", required=True)


class ContextUpdate(Strict):
    attributes: dict[str, Any] = attribute_map(
        "Merged into the attributes; a null value deletes the key.", required=True)


class ContextListQuery(ListQuery):
    session_id: str | None = Field(None, max_length=80)


class ContextOut(BaseModel):
    id: str
    session_id: str
    attributes: dict[str, Any]
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, c) -> "ContextOut":  # noqa: ANN001 - ORM row
        return cls(id=c.id, session_id=c.session_id, attributes=c.attributes or {},
                   created_at=c.created_at, updated_at=c.updated_at)


class ContextPage(BaseModel):
    items: list[ContextOut]
    next_cursor: str | None
