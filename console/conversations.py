"""Conversations: the list (assistant, session, date range) with HTMX paging, and the
transcript — messages oldest first, each reply's citations opening the cited passage in
place, the session's context and metadata, and the feedback left. Writers can correct a
reply there ("Improve this answer": services.corrections); nothing else changes here.
"""
from __future__ import annotations

from flask import Blueprint, Response, render_template, request, url_for

from console import records
from console.access import current_org, redirect_with_toast, require_login, requires_write
from errors import NotFound, ValidationFailed
from extensions import htmx
from models.knowledge import KnowledgeChunk, KnowledgeSource
from models.sessions import EndUser
from services import contexts as context_svc
from services import conversations as svc
from services import corrections as corrections_svc
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
    rating_max = request.args.get("rating_max", "")
    answer_type = request.args.get("answer_type")
    grounded = {"yes": True, "no": False}.get(request.args.get("grounded", ""))
    filters = svc.ConversationFilters(
        session_id=records.clean_text(request.args.get("session_id"), 80),
        assistant_id=assistant_id if assistant_id in names else None,
        since=since, until=until,
        rating_max=int(rating_max) if rating_max in ("1", "2", "3", "4", "5") else None,
        answer_type=answer_type if answer_type in svc.ANSWER_TYPES else None,
        grounded=grounded, q=records.clean_text(request.args.get("q"), 200),
        external_id=records.clean_text(request.args.get("external_id"), 255),
        channel=records.clean_text(request.args.get("channel"), 64))
    page = svc.list_conversations(org, filters, limit=PAGE_SIZE,
                                  cursor=request.args.get("cursor") or None)
    ids = [c.id for c in page.items]
    args = {"assistant_id": filters.assistant_id, "session_id": filters.session_id,
            "since": dates.since.isoformat() if dates.since else None,
            "until": dates.until.isoformat() if dates.until else None,
            "rating_max": filters.rating_max, "answer_type": filters.answer_type,
            "grounded": {True: "yes", False: "no"}.get(filters.grounded), "q": filters.q,
            "external_id": filters.external_id, "channel": filters.channel}
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
    improve = {
        "questions": {m.id: m.content for m in page.items if m.role == "user"},
        "corrections": corrections_svc.corrections_of(
            org, [m.id for m in page.items if m.role == "assistant"]),
    }
    if htmx and request.args.get("cursor"):
        return render_template("conversations/_messages.html", conversation=conversation,
                               messages=page.items, more=more, by_message=by_message,
                               **improve)
    session = session_svc.get_session(org, conversation.session_id)
    end_user = EndUser.get_for_org(session.end_user_id, org) if session.end_user_id else None
    return render_template(
        "conversations/transcript.html", conversation=conversation, messages=page.items,
        more=more, by_message=by_message, feedback=feedback, session=session,
        end_user=end_user,
        context_attributes=context_svc.session_attributes(org, session.id),
        names=records.assistant_names(org), **improve)


@bp.post("/<conversation_id>/messages/<message_id>/correction")
@requires_write
def correct(conversation_id: str, message_id: str) -> Response:
    """"Improve this answer": the right answer becomes a Q&A pair for the question."""
    org = current_org()
    try:
        made = corrections_svc.correct(org, conversation_id, message_id,
                                       answer=request.form.get("answer", ""),
                                       question=request.form.get("question"))
    except ValidationFailed as exc:
        problems = "; ".join(m for messages in exc.fields.values() for m in messages)
        return redirect_with_toast(".transcript", f"Not saved: {problems}", "error",
                                   conversation_id=conversation_id,
                                   _anchor=f"improve-{message_id}")
    return redirect_with_toast(
        ".transcript", "Already in the knowledge base; now linked to this reply."
        if made.duplicate else "Saved as a Q&A pair: once it is indexed (a few seconds), "
        "this question gets this answer.", conversation_id=conversation_id,
        _anchor=f"msg-{message_id}")


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
