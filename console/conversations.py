"""Conversations: the list (assistant, session, date range) with HTMX paging, and the
transcript — messages oldest first, each reply's citations opening the cited passage in
place, the session's context and metadata, and the feedback left. Read-only.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request, url_for

from console import records
from console.access import current_org, require_login
from errors import NotFound
from extensions import htmx
from models.knowledge import KnowledgeChunk, KnowledgeSource
from services import contexts as context_svc
from services import conversations as svc
from services import feedback as feedback_svc
from services import sessions as session_svc

bp = require_login(Blueprint("console_conversations", __name__,
                             url_prefix="/console/conversations"))
PAGE_SIZE = 25
MESSAGE_PAGE = 100


@bp.get("/")
def index() -> str:
    """The list; an HTMX call (filter change, "load more") gets only the rows."""
    org = current_org()
    names = records.assistant_names(org)
    dates = records.parse_range(request.args)
    since, until = dates.bounds
    assistant_id = request.args.get("assistant_id")
    filters = svc.ConversationFilters(
        session_id=records.clean_text(request.args.get("session_id"), 80),
        assistant_id=assistant_id if assistant_id in names else None,
        since=since, until=until)
    page = svc.list_conversations(org, filters, limit=PAGE_SIZE,
                                  cursor=request.args.get("cursor") or None)
    ids = [c.id for c in page.items]
    args = {"assistant_id": filters.assistant_id, "session_id": filters.session_id,
            "since": dates.since.isoformat() if dates.since else None,
            "until": dates.until.isoformat() if dates.until else None}
    args = {k: v for k, v in args.items() if v}
    context = {
        "conversations": page.items, "names": names,
        "ratings": records.ratings(org, ids), "previews": records.first_questions(org, ids),
        "externals": session_svc.end_user_external_ids(
            org, {c.end_user_id for c in page.items if c.end_user_id}),
        "more": url_for(".index", **args, cursor=page.next_cursor) if page.next_cursor
        else None,
        "filters": args, "date_error": dates.error,
        "first_page": not request.args.get("cursor"),
    }
    if htmx:
        return render_template("conversations/_rows.html", **context)
    return render_template("conversations/list.html", **context)


@bp.get("/<conversation_id>")
def transcript(conversation_id: str) -> str:
    org = current_org()
    conversation = svc.get_conversation(org, conversation_id)
    page = svc.list_messages(org, conversation.id, limit=MESSAGE_PAGE,
                             cursor=request.args.get("cursor") or None)
    feedback = feedback_svc.list_feedback(org, conversation.id, limit=100, cursor=None).items
    by_message: dict[str, list] = {}
    for f in feedback:
        if f.message_id:
            by_message.setdefault(f.message_id, []).append(f)
    more = (url_for(".transcript", conversation_id=conversation.id, cursor=page.next_cursor)
            if page.next_cursor else None)
    if htmx and request.args.get("cursor"):
        return render_template("conversations/_messages.html", conversation=conversation,
                               messages=page.items, more=more, by_message=by_message)
    session = session_svc.get_session(org, conversation.session_id)
    externals = session_svc.end_user_external_ids(
        org, {session.end_user_id} if session.end_user_id else set())
    return render_template(
        "conversations/transcript.html", conversation=conversation, messages=page.items,
        more=more, by_message=by_message, feedback=feedback, session=session,
        external_id=externals.get(session.end_user_id or ""),
        context_attributes=context_svc.session_attributes(org, session.id),
        names=records.assistant_names(org))


@bp.get("/<conversation_id>/citations/<chunk_id>")
def citation(conversation_id: str, chunk_id: str) -> str:
    """The cited passage, opened under the reply. A chunk that is gone (its source was
    deleted or re-processed since) says so; another org's chunk looks the same."""
    org = current_org()
    conversation = svc.get_conversation(org, conversation_id)
    try:
        chunk = KnowledgeChunk.get_for_org(chunk_id, org)
        source = KnowledgeSource.get_for_org(chunk.source_id, org)
    except NotFound:
        chunk = source = None
    return render_template("conversations/_citation.html", conversation=conversation,
                           chunk=chunk, source=source, chunk_id=chunk_id)
