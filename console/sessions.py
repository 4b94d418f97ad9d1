"""Sessions: the list (channel, end user's external id, active/ended, assistant) with
HTMX paging, one session's page (who, which channel, its context attributes and metadata,
the conversations held in it), and one customer's page joining their sessions and
conversations across channels. Read-only for every role.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request, url_for

from console import records
from console.access import current_org, require_login
from extensions import htmx
from models.sessions import EndUser
from services import contexts as context_svc
from services import conversations as conversation_svc
from services import sessions as svc

bp = require_login(Blueprint("console_sessions", __name__, url_prefix="/console/sessions"))
PAGE_SIZE = 25
ACTIVE_CHOICES = {"active": True, "ended": False}


@bp.get("/")
def index() -> str:
    """The list; an HTMX call (filter change, "load more") gets only the rows."""
    org = current_org()
    names = records.assistant_names(org)
    filters = {
        "channel": records.clean_text(request.args.get("channel"), 64),
        "external_id": records.clean_text(request.args.get("external_id")),
        "active": request.args.get("active") if request.args.get("active") in ACTIVE_CHOICES
        else None,
        "assistant_id": request.args.get("assistant_id") if request.args.get("assistant_id")
        in names else None,
    }
    page = svc.list_sessions(
        org, limit=PAGE_SIZE, cursor=request.args.get("cursor") or None,
        external_id=filters["external_id"], channel=filters["channel"],
        active=ACTIVE_CHOICES.get(filters["active"] or ""),
        assistant_id=filters["assistant_id"])
    ids = [s.id for s in page.items]
    context = {
        "sessions": page.items, "names": names,
        "externals": svc.end_user_external_ids(
            org, {s.end_user_id for s in page.items if s.end_user_id}),
        "counts": records.conversation_counts(org, ids),
        "more": url_for(".index", **{k: v for k, v in filters.items() if v},
                        cursor=page.next_cursor) if page.next_cursor else None,
        "filters": filters, "first_page": not request.args.get("cursor"),
    }
    if htmx:
        return render_template("sessions/_rows.html", **context)
    return render_template("sessions/list.html", channels=records.channels(org), **context)


@bp.get("/<session_id>")
def detail(session_id: str) -> str:
    org = current_org()
    session = svc.get_session(org, session_id)
    end_user = EndUser.get_for_org(session.end_user_id, org) if session.end_user_id else None
    contexts = context_svc.list_contexts(org, limit=100, cursor=None,
                                         session_id=session.id).items
    conversations = conversation_svc.list_conversations(
        org, conversation_svc.ConversationFilters(session_id=session.id), limit=100,
        cursor=None).items
    conv_ids = [c.id for c in conversations]
    return render_template(
        "sessions/detail.html", session=session, end_user=end_user, contexts=contexts,
        context_attributes=context_svc.session_attributes(org, session.id),
        conversations=conversations, names=records.assistant_names(org),
        ratings=records.ratings(org, conv_ids),
        previews=records.first_questions(org, conv_ids))


@bp.get("/customers/<end_user_id>")
def customer(end_user_id: str) -> str:
    """One person (an end user known by the organization's id) across every channel."""
    org = current_org()
    end_user = EndUser.get_for_org(end_user_id, org)
    sessions = svc.list_sessions(org, limit=100, cursor=None,
                                 external_id=end_user.external_id).items
    conversations = conversation_svc.list_conversations(
        org, conversation_svc.ConversationFilters(external_id=end_user.external_id),
        limit=100, cursor=None).items
    conv_ids = [c.id for c in conversations]
    return render_template(
        "sessions/customer.html", end_user=end_user, sessions=sessions,
        channels=sorted({s.channel for s in sessions if s.channel}),
        counts=records.conversation_counts(org, [s.id for s in sessions]),
        conversations=conversations, names=records.assistant_names(org),
        ratings=records.ratings(org, conv_ids), previews=records.first_questions(org, conv_ids))
