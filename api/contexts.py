"""`/api/v1/contexts` — attributes of a session the assistant uses when answering (SPEC §5)."""
from __future__ import annotations

from flask import Blueprint

from api.auth import current_org
from api.endpoint import endpoint
from api.schemas.sessions import (
    ContextCreate,
    ContextListQuery,
    ContextOut,
    ContextPage,
    ContextUpdate,
)
from services import contexts as svc

bp = Blueprint("contexts", __name__, url_prefix="/api/v1/contexts")
TAGS = ["Sessions"]


# strict_slashes=False: SPEC writes this path without the trailing slash.
@bp.post("/", strict_slashes=False)
@endpoint(summary="Add a context to an active session", tags=TAGS, body=ContextCreate,
          response=ContextOut, status=201, errors=(404, 410, 422))
def create(body: ContextCreate) -> ContextOut:
    return ContextOut.of(svc.create_context(current_org(), body.session_id, body.attributes))


@bp.get("/", strict_slashes=False)
@endpoint(summary="List contexts, newest first (filter by session_id)", tags=TAGS,
          query=ContextListQuery, response=ContextPage)
def list_(query: ContextListQuery) -> ContextPage:
    page = svc.list_contexts(current_org(), limit=query.limit, cursor=query.cursor,
                             session_id=query.session_id)
    return ContextPage(items=[ContextOut.of(c) for c in page.items],
                       next_cursor=page.next_cursor)


@bp.get("/<context_id>")
@endpoint(summary="Get a context", tags=TAGS, response=ContextOut, errors=(404,))
def get(context_id: str) -> ContextOut:
    return ContextOut.of(svc.get_context(current_org(), context_id))


@bp.patch("/<context_id>")
@endpoint(summary="Merge attributes into a context (null deletes a key)", tags=TAGS,
          body=ContextUpdate, response=ContextOut, errors=(404, 410, 422))
def update(context_id: str, body: ContextUpdate) -> ContextOut:
    return ContextOut.of(svc.update_context(current_org(), context_id, body.attributes))
