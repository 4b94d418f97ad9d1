"""`/api/v1/audit-events` — the organization's audit trail (SPEC §12), read-only: no route
edits or deletes an event."""
from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint
from pydantic import BaseModel, Field

from api.auth import current_org
from api.endpoint import endpoint
from api.schemas.common import IsoDateTime, ListQuery, Page, Timestamp
from models.audit import AuditEvent
from services import audit_trail as svc

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit-events")
TAGS = ["Audit"]
EntityType = Literal[tuple(svc.ENTITY_TYPES)]  # type: ignore[valid-type]


class Actor(BaseModel):
    type: Literal["user", "key", "system"]
    id: str | None


class AuditEventOut(BaseModel):
    id: str
    actor: Actor
    action: str
    entity_type: str
    entity_id: str | None
    changes: dict[str, Any] = Field(description="{field: [before, after]}; a secret field "
                                    "reads \"(changed)\", never its value.")
    request_id: str | None
    ip: str | None
    created_at: Timestamp

    @classmethod
    def of(cls, e: AuditEvent) -> "AuditEventOut":
        return cls(id=e.id, actor=Actor(type=e.actor_type, id=e.actor_id), action=e.action,
                   entity_type=e.entity_type, entity_id=e.entity_id, changes=e.changes or {},
                   request_id=e.request_id, ip=e.client_ip, created_at=e.created_at)


class AuditQuery(ListQuery):
    actor_type: Literal["user", "key", "system"] | None = None
    actor_id: str | None = Field(None, max_length=40, description="A user or key id.")
    entity_type: EntityType | None = None
    entity_id: str | None = Field(None, max_length=40)
    action: str | None = Field(None, max_length=64, description="An action such as "
                               "assistant.version_promoted, or a prefix ending in * "
                               "(assistant.*).")
    since: IsoDateTime | None = Field(None, description="ISO 8601; inclusive (UTC if no zone).")
    until: IsoDateTime | None = Field(None, description="ISO 8601; exclusive (UTC if no zone).")


# strict_slashes=False: SPEC writes this path without the trailing slash.
@bp.get("/", strict_slashes=False)
@endpoint(summary="List audit events, newest first", tags=TAGS, query=AuditQuery,
          response=Page[AuditEventOut])
def list_(query: AuditQuery) -> Page[AuditEventOut]:
    page = svc.list_events(current_org(), limit=query.limit, cursor=query.cursor,
                           **query.model_dump(exclude={"limit", "cursor"}))
    return Page[AuditEventOut](items=[AuditEventOut.of(e) for e in page.items],
                               next_cursor=page.next_cursor)
