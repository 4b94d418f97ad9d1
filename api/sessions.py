"""`/api/v1/sessions/` — time-boxed sessions, anonymous or for a known end user (SPEC §5)."""
from __future__ import annotations

from flask import Blueprint

from api.auth import current_org
from api.endpoint import endpoint
from api.schemas.sessions import (
    SessionCreate,
    SessionListQuery,
    SessionOut,
    SessionPage,
    SessionUpdate,
)
from services import sessions as svc

bp = Blueprint("sessions", __name__, url_prefix="/api/v1/sessions")
TAGS = ["Sessions"]


@bp.post("/", strict_slashes=False)
@endpoint(summary="Open a session (authenticated with user.external_id, else anonymous)",
          tags=TAGS, body=SessionCreate, response=SessionOut, status=201,
          errors=(404, 409, 422))
def create(body: SessionCreate) -> SessionOut:
    data = body.model_dump(exclude_none=True)
    if body.user is not None:
        data["user"] = body.user.model_dump(exclude_none=True)
    return SessionOut.of(svc.create_session(current_org(), data))


@bp.get("/", strict_slashes=False)
@endpoint(summary="List sessions, newest first", tags=TAGS, query=SessionListQuery,
          response=SessionPage)
def list_(query: SessionListQuery) -> SessionPage:
    page = svc.list_sessions(current_org(), limit=query.limit, cursor=query.cursor,
                             external_id=query.external_id, channel=query.channel,
                             active=query.active, assistant_id=query.assistant_id)
    return SessionPage(items=[SessionOut.of(s) for s in page.items],
                       next_cursor=page.next_cursor)


@bp.get("/<session_id>")
@endpoint(summary="Get a session", tags=TAGS, response=SessionOut, errors=(404,))
def get(session_id: str) -> SessionOut:
    return SessionOut.of(svc.get_session(current_org(), session_id))


@bp.patch("/<session_id>")
@endpoint(summary="Extend the TTL (from now) or merge metadata (null deletes a key)",
          tags=TAGS, body=SessionUpdate, response=SessionOut, errors=(404, 410, 422))
def update(session_id: str, body: SessionUpdate) -> SessionOut:
    session = svc.update_session(current_org(), session_id, ttl_seconds=body.ttl_seconds,
                                 metadata=body.metadata)
    return SessionOut.of(session)


@bp.delete("/<session_id>")
@endpoint(summary="End a session (its records stay readable)", tags=TAGS, status=204,
          errors=(404,))
def delete(session_id: str) -> None:
    svc.end_session(current_org(), session_id)
